"""The selection screen's pure core: checks, ranking, grid geometry, keys and clicks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.ui.photo_grid import (
    Action,
    GridLayout,
    PhotoItem,
    Rect,
    SelectionState,
    photo_checks,
    photo_score,
    rank_order,
    short_reason,
)
from app.ui.select_view import HIGHLIGHT, PanelInfo, draw_select, empty_message_h, screen_layout
from pipeline.tracking.quality import QualityReport


def report(size=220.0, yaw=0.0, pitch=0.0, sharp=200.0, exposure=0.5, warnings=(), faces=1, clipped=0.0):
    return QualityReport(size, yaw, pitch, 0.0, 0.0, sharp, exposure, clipped, 0.0, {}, faces, list(warnings))


def item(name, status, rep=None, problem=""):
    score = photo_score(rep) if rep is not None else 0.0
    return PhotoItem(Path(name), status, None, rep, problem, score)


def test_checks_flag_each_problem_in_its_own_badge():
    levels = {c.name: c.level for c in photo_checks(report())}
    assert levels == dict.fromkeys(("face", "size", "pose", "sharpness", "lighting"), "ok")
    bad = {c.name: c.level for c in photo_checks(report(size=100, yaw=40, sharp=2, exposure=0.1))}
    assert bad == {"face": "ok", "size": "warn", "pose": "warn", "sharpness": "warn", "lighting": "warn"}
    no_face = photo_checks(None, "no_face")
    assert [c.level for c in no_face] == ["fail", "none", "none", "none", "none"]  # the rest was not checked
    blurry = {c.name: (c.level, c.text) for c in photo_checks(None, "too_blurry")}
    assert blurry["sharpness"] == ("fail", "too blurry") and blurry["face"][0] == "fail"


def test_check_texts_are_plain_words():
    def texts(rep):
        return [f"{c.label}: {c.text}" for c in photo_checks(rep)]

    assert texts(report(size=201, yaw=-0.3, pitch=0.2, sharp=706)) == [
        "Face found: one face",
        "Size: face 201 px tall",
        "Pose: facing the camera",
        "Sharpness: sharp",
        "Lighting: even",
    ]
    worse = texts(report(size=120, yaw=-33.4, sharp=3, exposure=0.1, faces=2))
    assert worse == [
        "Face found: two people: the largest face is used",
        "Size: face 120 px tall: small, looks soft",
        "Pose: turned too far (33° to the side)",
        "Sharpness: too blurry",
        "Lighting: too dark",
    ]
    assert texts(report(pitch=-30))[2] == "Pose: looking too far up or down (30°)"
    assert texts(report(exposure=0.95))[4] == "Lighting: too bright"
    assert texts(report(clipped=0.2))[4].startswith("Lighting: harsh")
    for line in worse + texts(report()):
        assert "(s)" not in line and "-0" not in line and "sharpness 7" not in line


def test_badges_name_the_main_problem():
    assert short_reason(item("a.jpg", "good", report())) == "GOOD"
    assert short_reason(item("a.jpg", "fair", report(faces=2, sharp=3))) == "TWO PEOPLE"
    assert short_reason(item("a.jpg", "fair", report(sharp=3, yaw=40))) == "TOO BLURRY"
    assert short_reason(item("a.jpg", "fair", report(yaw=40, exposure=0.1))) == "TURNED TOO FAR"
    assert short_reason(item("a.jpg", "fair", report(exposure=0.1))) == "TOO DARK"
    assert short_reason(item("a.jpg", "fair", report(size=120))) == "FACE SMALL"
    assert short_reason(item("a.jpg", "pending")) == "..."
    for kind, text in (("no_face", "NO FACE"), ("too_blurry", "TOO BLURRY"), ("unreadable", "CANNOT OPEN")):
        assert short_reason(PhotoItem(Path("b.jpg"), "unusable", problem_kind=kind)) == text


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


def test_keys_move_the_selection_and_use_it():
    g = GridLayout(Rect(0, 0, 500, 300), tile_px=100, gap_px=10, caption_px=30)
    st = SelectionState()
    for k in range(6):
        st.add(item(f"p{k}.jpg", "good", report(size=200 + k)))
    assert [st.items[i].path.name for i in st.order][:2] == ["p5.jpg", "p4.jpg"]
    assert st.selected is None  # nothing highlighted until the user picks
    a = st.handle_key("right", g)  # the first arrow picks the best photo
    assert a.kind == "select" and st.items[a.index].path.name == "p5.jpg" and st.cursor == 0
    a = st.handle_key("right", g)
    assert a.kind == "select" and st.items[a.index].path.name == "p4.jpg" and st.cursor == 1
    assert st.handle_key("down", g).kind == "select" and st.cursor == 5
    assert st.handle_key("down", g) is None and st.cursor == 5  # already at the end
    assert st.handle_key("up", g).kind == "select" and st.cursor == 1
    assert st.handle_key("enter", g) == Action("use", st.selected)  # Enter uses the selected photo
    assert st.handle_key("u", g).kind == "use"
    assert st.handle_key("c", g).kind == "no_camera"  # no camera: the window says so
    assert st.handle_key("o", g).kind == "folders"
    assert st.handle_key("home", g).kind == "select" and st.cursor == 0
    assert st.handle_key("q", g).kind == "quit"


def test_enter_before_any_choice_selects_the_best_photo():
    g = GridLayout(Rect(0, 0, 500, 300))
    st = SelectionState()
    st.add(item("ok.jpg", "fair", report(size=120)))
    st.add(item("best.jpg", "good", report()))
    a = st.handle_key("enter", g)
    assert a.kind == "select" and st.items[a.index].path.name == "best.jpg"
    assert st.handle_key("enter", g).kind == "use"


def test_unusable_photos_can_be_selected_but_not_used():
    g = GridLayout(Rect(0, 0, 500, 300))
    st = SelectionState()
    st.add(item("bad.jpg", "unusable", problem="no face found in bad.jpg."))
    assert st.handle_key("enter", g).kind == "select"
    assert st.handle_key("enter", g) is None
    assert st.handle_key("u", g) is None


def test_selection_stays_on_its_photo_when_the_ranking_changes():
    st = SelectionState()
    a = st.add(item("a.jpg", "pending"))
    b = st.add(item("b.jpg", "pending"))
    st.update(b, item("b.jpg", "good", report()))
    assert st.cursor_index == b and st.selected is None
    st.handle_key("right", GridLayout(Rect(0, 0, 500, 300)))  # picks the best: b
    st.handle_key("right", GridLayout(Rect(0, 0, 500, 300)))
    assert st.selected == a and st.cursor_index == a
    st.update(a, item("a.jpg", "good", report(size=500)))
    assert st.selected == a and st.cursor == 0  # followed its photo to the top


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


def test_drawn_grid_shows_badge_colours_and_one_highlight():
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
    assert img[c0.y + 60, c0.x + 60, :3].tolist() == [200, 200, 200]  # the thumbnail itself
    frame_px = (c0.y - 3, c0.x + 40)  # where the highlight's frame runs above the first tile
    assert img[frame_px][:3].tolist() != list(HIGHLIGHT)  # nothing selected yet: no highlight
    st.handle_key("right", ui.grid)
    img = draw_select(ui, st, PanelInfo(folder="photos"))
    assert img[frame_px][:3].tolist() == list(HIGHLIGHT)
    # Only one highlight colour is used anywhere on the grid.
    grid = img[ui.grid.area.y : ui.grid.area.y + ui.grid.area.h, : ui.grid.area.w, :3]
    assert not (grid == 255).all(axis=2).any()  # the old white cursor frame is gone


def test_last_row_and_message_are_reachable_above_the_footer():
    for w, h in ((480, 360), (700, 480), (960, 620), (1280, 800)):
        ui = screen_layout(w, h)
        g = ui.grid
        assert g.area.y + g.area.h == ui.footer.y  # the grid stops where the hint bar begins
        for n in (1, 7, 25):
            last = g.cell(n - 1, g.max_scroll(n))
            assert last.y + last.h + g.caption_px <= ui.footer.y
            info = PanelInfo(empty_message="None of the photos can be used: their badges say why. " * 3)
            extra = empty_message_h(info, g)
            st = SelectionState()
            for k in range(n):
                st.add(item(f"p{k}.jpg", "pending"))
            st.scroll(10**6, g, extra)  # the wheel, as far down as it goes
            assert g.content_h(n) + extra - st.scroll_px <= g.area.h  # the message's end is in view
            assert st.scroll_px >= g.max_scroll(n)  # and so is the last row
