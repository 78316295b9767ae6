#version 410 core
// One triangle covering the viewport; no vertex buffer needed (draw 3 vertices).
// uv runs 0..1 across the viewport, bottom-left origin.
out vec2 uv;

void main() {
    vec2 corner = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    uv = corner;
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}
