#version 410 core
// Draws a small RGBA image (a text line) over whatever is in the framebuffer.
in vec2 uv;
uniform sampler2D image;  // rows bottom-up
out vec4 frag_color;

void main() {
    frag_color = texture(image, uv);
}
