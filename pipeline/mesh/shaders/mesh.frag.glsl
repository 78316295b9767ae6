#version 330 core
// Unlit textured surface; the mouth-opening triangles fade to the mouth interior colour.
// Points that the source photo shows as background (matte below one half at the point's
// position in the source crop) are left out, whatever surface they belong to.
uniform sampler2D u_texture;
uniform sampler2D u_matte;      // the source crop; its alpha is the matte
uniform float u_interior;       // 0 = the texture as is, 1 = the interior colour
uniform vec3 u_interior_rgb01;  // colour of the mouth interior

in vec2 v_texcoord;
in vec2 v_matte_uv;

out vec4 f_colour;

void main() {
    if (texture(u_matte, v_matte_uv).a < 0.5) discard;
    vec3 rgb = texture(u_texture, v_texcoord).rgb;
    f_colour = vec4(mix(rgb, u_interior_rgb01, u_interior), 1.0);
}
