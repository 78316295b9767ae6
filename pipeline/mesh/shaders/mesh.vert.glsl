#version 330 core
// Every view of a frame in one instanced draw: instance i is view i, and carries its camera
// (view-projection) and its tile of the framebuffer. The view's clip-space position is moved
// into the tile exactly as a viewport would place it, and the four clip distances cut the
// geometry at the tile's edges, so no view spills into its neighbours.
in vec3 in_position;
in vec2 in_texcoord;
in vec2 in_matte_uv;
in vec2 in_mouth;   // inner-lip copies: (corner -1..1, upper lip 0 / lower lip 1); else 0
in int in_surface;  // 0 skin (atlas), 1 mouth opening (atlas + interior), 2 shell (crop)

in mat4 in_view_projection;  // per instance
in vec4 in_tile;             // per instance: NDC scale (x, y) and centre (x, y) of the tile

// The face and mouth take the depth test as if they were this much (world units) nearer
// the camera: the head shell is built just behind the face at rest, and a driven face moves
// (a lowered chin goes down and back), so the face must win where the two meet.
uniform float u_face_lift;
uniform float u_depth_a;  // the projection's depth row: clip.z = u_depth_a * eye.z + const

const int SURFACE_SHELL = 2;

out vec2 v_texcoord;
out vec2 v_matte_uv;
out vec2 v_mouth;
flat out int v_surface;

void main() {
    v_texcoord = in_texcoord;
    v_matte_uv = in_matte_uv;
    v_mouth = in_mouth;
    v_surface = in_surface;
    vec4 clip = in_view_projection * vec4(in_position, 1.0);
    gl_ClipDistance[0] = clip.w + clip.x;
    gl_ClipDistance[1] = clip.w - clip.x;
    gl_ClipDistance[2] = clip.w + clip.y;
    gl_ClipDistance[3] = clip.w - clip.y;
    float z = clip.z;
    if (in_surface != SURFACE_SHELL) {
        // Depth of the point moved u_face_lift towards the camera; x and y stay put.
        z = (clip.z + u_depth_a * u_face_lift) * clip.w / max(clip.w - u_face_lift, 1e-4);
    }
    gl_Position = vec4(clip.xy * in_tile.xy + in_tile.zw * clip.w, z, clip.w);
}
