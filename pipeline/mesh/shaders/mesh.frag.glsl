#version 330 core
// Unlit textured surfaces; the mouth-opening triangles fade to a shaded mouth interior.
// Points that the source photo shows as background (matte below one half at the point's
// position in the source crop) are left out, whatever surface they belong to.
//
// Compiled four times (the renderer inserts defines after the version line): with
// SHELL_PASS for the head shell (colour and matte from the crop: one lookup); with
// MATTE_INSIDE for the face triangles that lie wholly inside the matte (colour from the
// atlas, no matte test: one lookup), once with SKIN_ONLY for the skin and once with
// MOUTH_ONLY for the mouth opening; with none for the skin and mouth triangles that reach
// background (atlas colour, crop matte, the mouth chosen per triangle). A software
// rasteriser runs both sides of a branch on a block of pixels, so one program with a branch
// per surface would pay for every lookup, and for the mouth's shading, everywhere.
#ifndef MATTE_INSIDE
uniform sampler2D u_crop;       // the source crop; its alpha is the matte
#endif
#ifndef SHELL_PASS
uniform sampler2D u_atlas;      // the face texture (canonical UVs)
#endif
#if !defined(SHELL_PASS) && !defined(SKIN_ONLY)
#define WITH_MOUTH
uniform float u_interior;       // 0 = the lips as photographed, 1 = the mouth interior
uniform vec3 u_interior_rgb01;  // colour of the mouth cavity
#endif

in vec2 v_texcoord;
in vec2 v_matte_uv;
in vec2 v_mouth;
flat in int v_surface;

out vec4 f_colour;

#ifdef WITH_MOUTH
const int SURFACE_MOUTH = 1;

// The open mouth seen from the front: a cavity darkening towards the corners, the upper
// teeth under the upper lip and the tongue above the lower lip. m.x runs from one corner
// (-1) to the other (+1), m.y from the upper inner lip (0) to the lower (1).
vec3 mouth_interior(vec2 m) {
    float x = abs(m.x);
    float y = clamp(m.y, 0.0, 1.0);
    vec3 cavity = u_interior_rgb01 * (1.0 - 0.6 * smoothstep(0.35, 1.0, x));
    float tongue = smoothstep(0.55, 0.95, y) * (1.0 - smoothstep(0.3, 0.8, x));
    vec3 colour = mix(cavity, vec3(0.45, 0.17, 0.17), 0.85 * tongue);
    float teeth = (1.0 - smoothstep(0.16, 0.32, y)) * (1.0 - smoothstep(0.45, 0.85, x));
    vec3 enamel = vec3(0.82, 0.78, 0.72) * (1.0 - 0.35 * smoothstep(0.0, 0.3, y)) * (1.0 - 0.3 * x);
    return mix(colour, enamel, teeth);
}
#endif

void main() {
#ifdef UNTEXTURED
    // The geometry alone (RendererConfig.untextured): no lookup, no matte cut.
    f_colour = vec4(0.5, 0.5, 0.5, 1.0);
    return;
#endif
#ifndef MATTE_INSIDE
    vec4 crop = texture(u_crop, v_matte_uv);
    if (crop.a < 0.5) discard;
#endif
#ifdef SHELL_PASS
    // The shell's texture coordinate is its matte coordinate: the crop lookup is its colour.
    f_colour = vec4(crop.rgb, 1.0);
#else
    vec3 rgb = texture(u_atlas, v_texcoord).rgb;
#if defined(MOUTH_ONLY)
    if (u_interior > 0.0) rgb = mix(rgb, mouth_interior(v_mouth), u_interior);
#elif defined(WITH_MOUTH)
    // v_surface is constant over a triangle: a block of pixels takes one side of this.
    if (v_surface == SURFACE_MOUTH && u_interior > 0.0) rgb = mix(rgb, mouth_interior(v_mouth), u_interior);
#endif
    f_colour = vec4(rgb, 1.0);
#endif
}
