#version 410 core
// Lenticular interleaving: each colour channel of a panel pixel shows one view of the quilt.
// The lens phase is summed in unsigned 0.32 fixed point (wraps modulo one lens period); see
// display/lenticular.py, whose numpy reference does the same integer arithmetic.

const int MAX_CELLS = 16;

uniform sampler2D quilt;        // RGB, rows bottom-up, view 0 at the bottom-left tile
uniform sampler2D lut_x;        // W x 1: (continuous texel position, nearest texel or -1)
uniform sampler2D lut_y;        // H x 1, bottom-up
uniform ivec2 panel_origin_px;  // where the panel's pixel (0, 0) sits in the framebuffer
uniform uint step_x;            // lens phase per pixel column, 0.32 fixed point
uniform uint step_y;            // lens phase per pixel row
uniform uint base_phase;        // lens phase at pixel (0, 0)
uniform uvec3 cell_offsets[MAX_CELLS];  // per cell: phase offset of the R, G, B sub-pixels
uniform int num_cells;
uniform int cell_mode;          // CellPatternMode 0..4
uniform int num_views;
uniform int cols;
uniform ivec2 tile_size_px;
uniform int inv_view;           // 1: t = 1 - fract(phase)
uniform int linear_filter;      // 0: nearest view and texel; 1: blend views, bilinear texels

out vec4 frag_color;

int cell_of(ivec2 p) {
    int k = 0;
    if (cell_mode == 1) k = (p.x + p.y) % 2;
    else if (cell_mode == 2) k = p.x % 2;
    else if (cell_mode == 3) k = (p.y + 2 * (p.x % 2)) % 4;
    else if (cell_mode == 4) k = p.y % 2;
    return k % max(num_cells, 1);
}

ivec2 tile_origin(int view) {
    return ivec2(view % cols, view / cols) * tile_size_px;
}

float sample_nearest(int view, ivec2 texel, int channel) {
    return texelFetch(quilt, tile_origin(view) + texel, 0)[channel];
}

float sample_bilinear(int view, vec2 pos, int channel) {
    ivec2 o = tile_origin(view);
    vec2 i0 = floor(pos);
    vec2 w = pos - i0;
    ivec2 hi_limit = tile_size_px - 1;
    ivec2 lo = clamp(ivec2(i0), ivec2(0), hi_limit);
    ivec2 hi = clamp(ivec2(i0) + 1, ivec2(0), hi_limit);
    float c00 = texelFetch(quilt, o + ivec2(lo.x, lo.y), 0)[channel];
    float c10 = texelFetch(quilt, o + ivec2(hi.x, lo.y), 0)[channel];
    float c01 = texelFetch(quilt, o + ivec2(lo.x, hi.y), 0)[channel];
    float c11 = texelFetch(quilt, o + ivec2(hi.x, hi.y), 0)[channel];
    float top = c00 + (c10 - c00) * w.x;
    float bottom = c01 + (c11 - c01) * w.x;
    return top + (bottom - top) * w.y;
}

void main() {
    ivec2 p = ivec2(gl_FragCoord.xy) - panel_origin_px;
    vec2 lx = texelFetch(lut_x, ivec2(p.x, 0), 0).xy;
    vec2 ly = texelFetch(lut_y, ivec2(p.y, 0), 0).xy;
    if (lx.y < 0.0 || ly.y < 0.0) {  // letterbox bar
        frag_color = vec4(0.0, 0.0, 0.0, 1.0);
        return;
    }
    uint phase_xy = uint(p.x) * step_x + uint(p.y) * step_y + base_phase;
    uvec3 offs = cell_offsets[cell_of(p)];
    ivec2 texel = ivec2(lx.y, ly.y);
    vec2 pos = vec2(lx.x, ly.x);
    vec3 rgb;
    for (int c = 0; c < 3; ++c) {
        uint phase = phase_xy + offs[c];
        uint t = (inv_view == 1) ? ~phase : phase;
        uint view_u, frac_u;
        umulExtended(t, uint(num_views), view_u, frac_u);
        int view = int(view_u);
        if (linear_filter == 0) {
            rgb[c] = sample_nearest(view, texel, c);
        } else {
            float f = float(frac_u) * (1.0 / 4294967296.0);
            int next_view = min(view + 1, num_views - 1);
            rgb[c] = sample_bilinear(view, pos, c) * (1.0 - f) + sample_bilinear(next_view, pos, c) * f;
        }
    }
    frag_color = vec4(rgb, 1.0);
}
