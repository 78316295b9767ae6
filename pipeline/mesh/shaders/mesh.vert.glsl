#version 330 core
// World-space vertices with a texture coordinate; one draw per view.
uniform mat4 u_view_projection;

in vec3 in_position;
in vec2 in_texcoord;
in vec2 in_matte_uv;
in vec2 in_mouth;  // inner-lip vertices: (corner -1..1, upper lip 0 / lower lip 1); else 0

out vec2 v_texcoord;
out vec2 v_matte_uv;
out vec2 v_mouth;

void main() {
    v_texcoord = in_texcoord;
    v_matte_uv = in_matte_uv;
    v_mouth = in_mouth;
    gl_Position = u_view_projection * vec4(in_position, 1.0);
}
