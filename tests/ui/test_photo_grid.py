"""The selection screen's pure core: checks, ranking, grid geometry, keys and clicks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.ui.photo_grid import (
    GridLayout,
    PhotoItem,
    Rect,
    SelectionState,
    photo_checks,
    photo_score,
    rank_order,
)
from app.ui.select_view import PanelInfo, draw_select, screen_layout
from pipeline.tracking.quality import QualityReport


def report(size=220.0, yaw=0.0, pitch=0.0, sharp=200.0, exposure=0.5, warnings=()):
    return QualityReport(size, yaw, pitch, 0.0, 0.0, sharp, exposure, 0.0, 0.0, {}, 1, list(warnings))


def item(name, status, rep=None, problem=""):
    score = photo_score(rep) if rep is not None else 0.0
    return PhotoItem(Path(name), status, None, rep, problem, score)


def test_checks_flag_each_problem_in_its_own_badge():
    levels = {c.name: c.level for c in photo_checks(report())}
    assert levels == dict.fromkeys(("face", "size", "pose", "sharpness", "lighting"), "ok")
    bad = {c.name: c.level for c in photo_checks(report(size=100, yaw=40, sharp=2, exposure=0.1))}
    assert bad == {"face": "ok", "size": "warn", "pose": "warn", "sharpness": "warn", "lighting": "warn"}
    assert photo_checks(None, "no face found")[0].level == "fail"


def test_score_prefers_large_frontal_sharp_well_lit_faces():
    best = photo_score(report())
    assert photo_score(report(size=120)) < best
    assert photo_score(report(yaw=20)) < best
    assert photo_score(report(sharp=30)) < best
    assert photo_score(report(exposure=0.25)) < best
    assert photo_score(report(warnings=["x"])) < best - 0.9


def test_ranking_puts_usable_first_then_pending_then_unusable():
    items = [
        item("a_unusable.jpg", "unusable", problem="no face"),
        item("b_pending.jpg", "pending"),
        item("c_fair.jpg", "fair", report(size=120, warnings=["small"])),
        item("d_good_small.jpg", "good", report(size=170)),
        item("e_good_big.jpg", "good", report(size=400)),
    ]
    assert [items[i].path.name for i in rank_order(items)] == [
        "e_good_big.jpg",
        "d_good_small.jpg",
        "c_fair.jpg",
        "b_pending.jpg",
        "a_unusable.jpg",
    ]


def test_grid_geometry_hit_testing_and_scrolling():
    g = GridLayout(Rect(0, 40, 500, 300), tile_px=100, gap_px=10, caption_px=30)
    assert g.cols == 4 and g.row_h == 140
    c = g.cell(5)
    assert (c.x, c.y) == (10 + 110, 40 + 10 + 140)
    assert g.hit(c.x + 50, c.y + 50, count=10) == 5
    assert g.hit(c.x + 50, c.y + 115, count=10) == 5  # on its caption
    assert g.hit(c.x + 105, c.y + 50, count=10) is None  # in the gap
    assert g.hit(c.x + 50, c.y + 50, count=5) is None  # past the last photo
    assert g.scroll_to_show(9, 0) == 10 + 3 * 140 - 300
    assert g.scroll_to_show(0, 200) == 0
    assert g.max_scroll(12) == 10 + 3 * 140 - 300


def test_keys_move_the_cursor_select_and_use():
    g = GridLayout(Rect(0, 0, 500, 300), tile_px=100, gap_px=10, caption_px=30)
    st = SelectionState()
    for k in range(6):
        st.add(item(f"p{k}.jpg", "good", report(size=200 + k)))
    assert [st.items[i].path.name for i in st.order][:2] == ["p5.jpg", "p4.jpg"]
    assert st.handle_key("right", g) is None and st.cursor == 1
    assert st.handle_key("down", g) is None and st.cursor == 5
    assert st.handle_key("up", g) is None and st.cursor == 1
    a = st.handle_key("enter", g)
    assert a is not None and a.kind == "select" and st.items[a.index].path.name == "p4.jpg"
    assert st.handle_key("enter", g).kind == "use"  # Enter on the selected photo uses it
    assert st.handle_key("u", g).kind == "use"
    assert st.handle_key("c", g) is None  # no camera
    assert st.handle_key("q", g).kind == "quit"


def test_unusable_photos_can_be_selected_but_not_used():
    g = GridLayout(Rect(0, 0, 500, 300))
    st = SelectionState()
    st.add(item("bad.jpg", "unusable", problem="no face found in bad.jpg."))
    assert st.handle_key("enter", g).kind == "select"
    assert st.handle_key("enter", g).kind == "select"
    assert st.handle_key("u", g) is None


def test_cursor_stays_on_the_best_photo_until_the_user_moves_it():
    st = SelectionState()
    a = st.add(item("a.jpg", "pending"))
    b = st.add(item("b.jpg", "pending"))
    st.update(b, item("b.jpg", "good", report()))
    assert st.cursor_index == b
    st.handle_key("right", GridLayout(Rect(0, 0, 500, 300)))
    assert st.cursor_index == a
    st.update(a, item("a.jpg", "good", report(size=500)))
    assert st.cursor_index == a  # followed its photo to the top


def test_clicks_select_tiles_and_press_buttons():
    ui = screen_layout(900, 600)
    st = SelectionState(camera_available=True)
    for k in range(3):
        st.add(item(f"p{k}.jpg", "good", report(size=300 - k)))
    c = ui.grid.cell(2)
    a = st.handle_click(c.x + 5, c.y + 5, ui.grid, ui.use_button, ui.camera_button)
    assert a.kind == "select" and st.items[a.index].path.name == "p2.jpg"
    u = ui.use_button
    assert st.handle_click(u.x + 5, u.y + 5, ui.grid, ui.use_button, ui.camera_button).kind == "use"
    cb = ui.camera_button
    assert st.handle_click(cb.x + 5, cb.y + 5, ui.grid, ui.use_button, ui.camera_button).kind == "camera"
    assert st.camera_mode
    assert st.handle_click(cb.x + 5, cb.y + 5, ui.grid, ui.use_button, ui.camera_button).kind == "capture"
    # In camera mode the upper button goes back to the photos (it never uses one).
    assert st.handle_click(u.x + 5, u.y + 5, ui.grid, ui.use_button, ui.camera_button).kind == "camera"
    assert not st.camera_mode


def test_drawn_grid_shows_badge_colours_and_the_cursor():
    ui = screen_layout(700, 480, tile_px=96)
    st = SelectionState()
    thumb = np.full((96, 96, 3), 200, np.uint8)
    st.add(PhotoItem(Path("good.jpg"), "good", thumb, report(), "", 5.0))
    st.add(PhotoItem(Path("bad.jpg"), "unusable", thumb, None, "no face", 0.0, "no_face"))
    img = draw_select(ui, st, PanelInfo(folder="photos"))
    assert img.shape == (480, 700, 4) and (img[..., 3] == 255).all()
    c0, c1 = ui.grid.cell(0), ui.grid.cell(1)
    assert img[c0.y + 12, c0.x + 8, :3].tolist() == [70, 190, 95]
    assert img[c1.y + 12, c1.x + 8, :3].tolist() == [220, 60, 60]
    assert img[c0.y - 2, c0.x + 40, :3].tolist() == [255, 255, 255]  # cursor frame
    assert img[c0.y + 60, c0.x + 60, :3].tolist() == [200, 200, 200]  # the thumbnail itself
