#version 330 core
// World-space vertices with a texture coordinate; one draw per view.
uniform mat4 u_view_projection;

in vec3 in_position;
in vec2 in_texcoord;

out vec2 v_texcoord;

void main() {
    v_texcoord = in_texcoord;
    gl_Position = u_view_projection * vec4(in_position, 1.0);
}
