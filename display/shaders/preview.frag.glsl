#version 410 core
// Regular-monitor preview: one view of the quilt (mode 0) or the whole quilt (mode 1),
// fitted inside the viewport with black bars. Stale views get a red frame.

uniform sampler2D quilt;        // RGB, rows bottom-up, bilinear
uniform ivec2 quilt_size_px;
uniform ivec2 tile_size_px;
uniform int cols;
uniform int view;
uniform int mode;
uniform float content_aspect;   // width / height of what is shown
uniform vec2 viewport_origin_px;
uniform vec2 viewport_size_px;
uniform int stale;              // 1: mark the view as stale

out vec4 frag_color;

void main() {
    vec2 uv = (gl_FragCoord.xy - viewport_origin_px) / viewport_size_px;
    float viewport_aspect = viewport_size_px.x / viewport_size_px.y;
    vec2 scale = vec2(1.0);
    if (content_aspect < viewport_aspect) scale.x = viewport_aspect / content_aspect;
    else scale.y = content_aspect / viewport_aspect;
    vec2 a = (uv - 0.5) * scale + 0.5;
    if (any(lessThan(a, vec2(0.0))) || any(greaterThanEqual(a, vec2(1.0)))) {
        frag_color = vec4(0.0, 0.0, 0.0, 1.0);
        return;
    }
    vec2 texel;
    if (mode == 1) {
        texel = a * vec2(quilt_size_px);
    } else {
        vec2 origin = vec2(ivec2(view % cols, view / cols) * tile_size_px);
        vec2 inside = clamp(a * vec2(tile_size_px), vec2(0.5), vec2(tile_size_px) - 0.5);
        texel = origin + inside;
    }
    vec3 rgb = texture(quilt, texel / vec2(quilt_size_px)).rgb;
    vec2 edge = min(a, 1.0 - a) * viewport_size_px / scale;
    if (stale == 1 && min(edge.x, edge.y) < 4.0) rgb = vec3(1.0, 0.0, 0.0);
    frag_color = vec4(rgb, 1.0);
}
