#version 330 core
// Unlit textured surface; the mouth-opening triangles fade to the mouth interior colour.
uniform sampler2D u_texture;
uniform float u_interior;       // 0 = the texture as is, 1 = the interior colour
uniform vec3 u_interior_rgb01;  // colour of the mouth interior

in vec2 v_texcoord;

out vec4 f_colour;

void main() {
    vec3 rgb = texture(u_texture, v_texcoord).rgb;
    f_colour = vec4(mix(rgb, u_interior_rgb01, u_interior), 1.0);
}
