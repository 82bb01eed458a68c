"""/v2/creatives through the real app: the seed's examples, the audit's rules on real files, the
review gate, deletion, trackers and DCO serving with the variants recorded on tracking events."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image
from starlette.testclient import TestClient

from auctera.app import RootApp, create_app
from auctera.config import Settings
from auctera.domain import ids as idfmt
from auctera.domain.events import Event, EventType
from auctera.domain.signatures import sign
from support.clock import FrozenClock
from support.creatives import EICAR, banner, bundle, png_bomb

from .conftest import Api, app_at, error
from .test_tracking import CHROME

BANNER = "banner_300x250.jpg"


def upload(api: Api, name: str, data: bytes, type: str = "image", **form: str) -> Any:
    files = {"file": (name, data, "application/octet-stream")}
    return api.client.post(
        "/v2/creatives/upload", files=files, data={"type": type, **form}, headers=api.headers
    )


def uploaded(api: Api, name: str, data: bytes, type: str = "image", **form: str) -> dict[str, Any]:
    response = upload(api, name, data, type, **form)
    assert response.status_code == 201, response.text
    return dict(response.json())


def audit(api: Api, asset_id: str) -> dict[str, Any]:
    response = api.call("GET", "/v2/creatives/audit", asset_id=asset_id)
    assert response.status_code == 200, response.text
    return dict(response.json())


def stored(app: RootApp) -> list[str]:
    root = app.container.settings.creatives_dir
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def path_of(url: str) -> str:
    return urlsplit(url).path


# --- the seed's examples ------------------------------------------------------------------------


def test_upload_and_audit_as_the_seed_shows(app: RootApp, acme: Api, client: TestClient) -> None:
    body = uploaded(acme, BANNER, banner(exif=True))
    assert body["success"] is True
    assert body["asset_id"].startswith("ast_")
    assert body["cdn_url"].endswith(f"/cdn/{body['asset_id']}.jpg")

    result = audit(acme, body["asset_id"])
    assert {k: result[k] for k in ("asset_id", "status", "malware_scan", "iab_category")} == {
        "asset_id": body["asset_id"],
        "status": "approved",
        "malware_scan": "clean",
        "iab_category": "IAB3-1",  # a "banner": Business > Advertising
    }
    assert (result["width"], result["height"], result["findings"]) == (300, 250, [])

    served = client.get(path_of(body["cdn_url"]))
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert "immutable" in served.headers["cache-control"]
    image = Image.open(io.BytesIO(served.content))
    assert image.size == (300, 250)
    assert not image.getexif(), "metadata (EXIF) must not survive the re-encoding"
    assert b"SnoopCam" not in served.content
    again = client.get(path_of(body["cdn_url"]), headers={"If-None-Match": served.headers["etag"]})
    assert again.status_code == 304


def test_the_cdn_url_is_on_the_configured_cdn(tmp_path: Path) -> None:
    application = create_app(Settings(data_dir=tmp_path / "cdn", cdn_url="https://cdn.auctera.io"))
    with TestClient(application) as client:
        body = uploaded(Api(application, client), BANNER, banner())
        assert body["cdn_url"] == f"https://cdn.auctera.io/{body['asset_id']}.jpg"  # the seed's form
        assert client.get(f"/cdn/{body['asset_id']}.jpg").status_code == 200  # the CDN's origin
    application.container.close()


def test_macros_as_the_seed_shows(acme: Api) -> None:
    asset_id = uploaded(acme, BANNER, banner())["asset_id"]
    body = {"asset_id": asset_id, "click_tracker": "https://ad.doubleclick.net/clk/..."}
    response = acme.call("POST", "/v2/creatives/macros", body)
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "status": "macros_applied"}


def test_dco_as_the_seed_shows(acme: Api) -> None:
    body = {"name": "Dynamic Retargeting", "variables": ["headline", "product_image", "price"]}
    response = acme.call("POST", "/v2/creatives/dco", body)
    assert response.status_code == 201, response.text
    assert response.json()["success"] is True
    assert response.json()["dco_template_id"].startswith("dco_")


def test_delete_as_the_seed_shows(app: RootApp, acme: Api, client: TestClient) -> None:
    body = uploaded(acme, BANNER, banner())
    response = acme.call("DELETE", f"/v2/creatives/{body['asset_id']}")
    assert response.status_code == 200, response.text
    assert {k: response.json()[k] for k in ("success", "status")} == {"success": True, "status": "purged"}
    assert stored(app) == []  # purged from storage at once
    assert client.get(path_of(body["cdn_url"])).status_code == 404
    error(acme.call("GET", "/v2/creatives/audit", asset_id=body["asset_id"]), 404, "asset_id")


# --- what the upload refuses, and what the audit rejects ---------------------------------------


def test_an_animated_gif_keeps_its_frames(acme: Api, client: TestClient) -> None:
    frames = [Image.new("RGB", (320, 50), color) for color in ("red", "blue", "green")]
    out = io.BytesIO()
    frames[0].save(
        out, "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0, comment=b"by me"
    )
    body = uploaded(acme, "strip_320x50.gif", out.getvalue())
    served = client.get(path_of(body["cdn_url"]))
    assert served.headers["content-type"] == "image/gif"
    image = Image.open(io.BytesIO(served.content))
    assert (image.size, image.n_frames) == ((320, 50), 3)
    assert "comment" not in image.info


def test_declared_type_must_match_the_content(app: RootApp, acme: Api) -> None:
    error(upload(acme, BANNER, banner(), type="video"), 422, "type")
    error(upload(acme, "notes.txt", b"just some text, no image at all", type="image"), 415, "file")
    error(upload(acme, BANNER, banner(), type="flash"), 422, "type")
    assert stored(app) == []


def test_files_over_the_size_limit_are_refused(app: RootApp, acme: Api) -> None:
    padded = banner() + b"\0" * (5 * 2**20)  # a valid JPEG, then 5 MB after its end
    failure = error(upload(acme, BANNER, padded), 413, "file")
    assert "5 MB" in failure["message"]
    assert stored(app) == []


def test_an_extension_disagreeing_with_the_content_is_rejected(acme: Api) -> None:
    asset_id = uploaded(acme, "banner_300x250.jpg", banner(fmt="PNG"))["asset_id"]
    result = audit(acme, asset_id)
    assert result["status"] == "rejected"
    assert result["format"] == "png"
    assert any(f["check"] == "type" and ".jpg" in f["message"] for f in result["findings"]), result


def test_a_non_standard_size_is_rejected_and_not_served(acme: Api, client: TestClient) -> None:
    body = uploaded(acme, "odd.jpg", banner(301, 251))
    assert body["cdn_url"] is None
    result = audit(acme, body["asset_id"])
    assert result["status"] == "rejected"
    assert [f["check"] for f in result["findings"]] == ["size"]
    name = f"{body['asset_id']}.jpg"
    assert client.get(f"/cdn/{name}").status_code == 404


def test_a_decompression_bomb_is_refused_before_it_is_decoded(app: RootApp, acme: Api) -> None:
    failure = error(upload(acme, "bomb.png", png_bomb()), 422, "file")
    assert "decompression" in failure["message"]
    assert stored(app) == []


def test_an_animation_over_its_frames_budget_is_refused_naming_that_limit(app: RootApp, acme: Api) -> None:
    """Each 1 MP frame is fine; 68 of them are over the 67 MP all frames may decode to."""
    frames = [Image.new("P", (1000, 1000), i) for i in range(68)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    failure = error(upload(acme, "long.gif", out.getvalue()), 422, "file")
    assert "68 frames of 1000x1000" in failure["message"] and "67 MP" in failure["message"]
    assert stored(app) == []


def test_the_eicar_file_is_flagged_and_never_stored(app: RootApp, acme: Api, client: TestClient) -> None:
    body = uploaded(acme, "eicar.com", EICAR)
    assert body["cdn_url"] is None
    result = audit(acme, body["asset_id"])
    assert (result["status"], result["malware_scan"]) == ("rejected", "infected")
    assert any("EICAR" in f["message"] for f in result["findings"]), result
    assert stored(app) == []

    inside = uploaded(acme, "sale.zip", bundle(files={"eicar.com": EICAR}), type="html5")
    assert audit(acme, inside["asset_id"])["malware_scan"] == "infected"
    assert stored(app) == []


def test_an_html5_bundle_loading_a_foreign_script_is_rejected(acme: Api) -> None:
    foreign = '<script src="https://evil.example.net/miner.js"></script>'
    result = audit(acme, uploaded(acme, "sale.zip", bundle(scripts=foreign), type="html5")["asset_id"])
    assert result["status"] == "rejected"
    assert [f["message"] for f in result["findings"]] == [
        "index.html loads a script from evil.example.net, not on the allowlist"
    ]

    no_click_tag = bundle(
        index='<html><head><meta name="ad.size" content="width=300,height=250"></head></html>'
    )
    result = audit(acme, uploaded(acme, "plain.zip", no_click_tag, type="html5")["asset_id"])
    assert result["status"] == "rejected"
    assert any("clickTag" in f["message"] for f in result["findings"])


def test_an_html5_bundle_is_served_sandboxed(acme: Api, client: TestClient) -> None:
    allowed = '<script src="https://s0.2mdn.net/ads/studio/Enabler.js"></script>'
    body = uploaded(acme, "sale.zip", bundle(scripts=allowed), type="html5")
    result = audit(acme, body["asset_id"])
    assert (result["status"], result["width"], result["height"]) == ("approved", 300, 250)
    assert result["iab_category"] == "IAB22"  # "Holiday sale: shop now": Shopping
    assert body["cdn_url"].endswith(f"/cdn/{body['asset_id']}/index.html")
    page = client.get(path_of(body["cdn_url"]))
    assert page.status_code == 200
    assert "clickTag" in page.text
    assert page.headers["content-security-policy"].startswith("sandbox")
    assert client.get(path_of(body["cdn_url"]).replace("index.html", "style.css")).status_code == 200


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg (Debian package) is not installed")
def test_a_video_is_probed_for_codec_and_duration(acme: Api, tmp_path: Path) -> None:
    def video(seconds: int, codec: str) -> bytes:
        out = tmp_path / f"{seconds}-{codec}.mp4"
        command = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=c=red:s=320x240:d={seconds}:r=5"]
        subprocess.run([*command, "-c:v", codec, "-pix_fmt", "yuv420p", str(out)], check=True)
        return out.read_bytes()

    result = audit(acme, uploaded(acme, "spot.mp4", video(1, "libx264"), type="video")["asset_id"])
    assert (result["status"], result["video_codec"]) == ("approved", "h264")
    assert 0.5 < result["duration_seconds"] < 2

    result = audit(acme, uploaded(acme, "spot.mp4", video(1, "mpeg4"), type="video")["asset_id"])
    assert result["status"] == "rejected"
    assert any("codec mpeg4" in f["message"] for f in result["findings"]), result


# --- campaigns ----------------------------------------------------------------------------------


def test_an_approved_creative_lets_a_dsp_campaign_pass_review(acme: Api) -> None:
    campaign_id = acme.create(destination_url="https://shop.example.com/")
    assert acme.get(campaign_id)["status"] == "active"

    uploaded(acme, "odd.jpg", banner(301, 251), campaign_id=campaign_id)  # fails its audit
    held = acme.get(campaign_id)
    assert held["status"] == "rejected"
    assert held["review"]["reasons"] == [
        "creatives: no approved creative (every attached creative failed its audit)"
    ]

    uploaded(acme, BANNER, banner(), campaign_id=campaign_id)
    passed = acme.get(campaign_id)
    assert passed["status"] == "active"
    assert passed["review"]["reasons"] == []


def test_deleting_the_last_creative_pauses_the_campaign(acme: Api) -> None:
    campaign_id = acme.create(destination_url="https://shop.example.com/")
    first = uploaded(acme, BANNER, banner(), campaign_id=campaign_id)["asset_id"]
    second = uploaded(acme, "leader_728x90.jpg", banner(728, 90), campaign_id=campaign_id)["asset_id"]

    assert acme.call("DELETE", f"/v2/creatives/{first}").json()["paused_campaigns"] == []
    assert acme.get(campaign_id)["status"] == "active"  # the second one still serves

    assert acme.call("DELETE", f"/v2/creatives/{second}").json()["paused_campaigns"] == [campaign_id]
    paused = acme.get(campaign_id)
    assert paused["status"] == "paused"
    assert paused["review"]["reasons"] == [
        f"paused: creative {second} was deleted and no approved creative is left"
    ]


def test_creatives_attach_only_to_the_callers_campaigns(app: RootApp, client: TestClient, acme: Api) -> None:
    other = Api(app, client, name="Other")
    campaign_id = other.create()
    error(upload(acme, BANNER, banner(), campaign_id=campaign_id), 404, "campaign_id")
    asset_id = uploaded(acme, BANNER, banner())["asset_id"]
    error(other.call("GET", "/v2/creatives/audit", asset_id=asset_id), 404, "asset_id")
    error(other.call("DELETE", f"/v2/creatives/{asset_id}"), 404, "asset_id")


# --- trackers -----------------------------------------------------------------------------------


def test_trackers_are_validated_and_their_cache_busters_filled_per_serve(acme: Api) -> None:
    campaign_id = acme.create(destination_url="https://shop.example.com/")
    asset_id = uploaded(acme, BANNER, banner(), campaign_id=campaign_id)["asset_id"]
    bad = {"asset_id": asset_id, "click_tracker": "http://ad.doubleclick.net/clk/1"}
    error(acme.call("POST", "/v2/creatives/macros", bad), 422, "click_tracker")
    unknown = {"asset_id": asset_id, "impression_tracker": "https://pixel.adsafeprotected.com/x?[WHO]"}
    error(acme.call("POST", "/v2/creatives/macros", unknown), 422, "impression_tracker")

    body = {
        "asset_id": asset_id,
        "click_tracker": "https://ad.doubleclick.net/ddm/clk/1;ord=[timestamp]",
        "impression_tracker": [
            "https://ad.doubleclick.net/ddm/trackimp/N1;ord=[timestamp]",
            "https://pixel.adsafeprotected.com/rfw/st/1/2/skeleton.gif?cb=%%CACHEBUSTER%%",
        ],
    }
    assert acme.call("POST", "/v2/creatives/macros", body).json()["status"] == "macros_applied"

    tags = [
        acme.call("GET", f"/v2/creatives/{asset_id}/tag", campaign_id=campaign_id).json() for _ in range(2)
    ]
    first = tags[0]
    number = first["click_trackers"][0].rsplit("=", 1)[1]
    assert number.isdigit()
    assert first["impression_trackers"][0].endswith(f"ord={number}")
    assert first["impression_trackers"][1].endswith(f"cb={number}")
    assert tags[1]["click_trackers"] != first["click_trackers"]  # a new number every serve
    assert f"cr={idfmt.to_base36(idfmt.parse('ast', asset_id) or 0)}" in first["click_url"]


# --- DCO ----------------------------------------------------------------------------------------


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[RootApp, TestClient]]:
    """The app reading variant figures afresh on every serve (no 2-second cache)."""
    application = create_app(Settings(data_dir=tmp_path / "fresh", auction_cache_seconds=0))
    with TestClient(application) as c:
        yield application, c
    application.container.close()


def test_dco_serves_the_variant_that_converts_and_tracks_it(fresh: tuple[RootApp, TestClient]) -> None:
    app, client = fresh
    acme = Api(app, client)
    campaign_id = acme.create(destination_url="https://shop.example.com/")
    body = {
        "name": "Dynamic Retargeting",
        "variables": {"headline": ["Save 20%", "Free shipping", "New in"], "cta": ["Buy now", "Shop"]},
        "campaign_id": campaign_id,
    }
    created = acme.call("POST", "/v2/creatives/dco", body).json()
    template = created["dco_template_id"]
    keys = [v["variant"] for v in created["variants"]]
    assert len(keys) == 6 and "free_shipping+shop" in keys

    # A click on a served link is logged with the creative and the variant.
    served = acme.call("GET", f"/v2/creatives/dco/{template}/serve").json()
    assert set(served["values"]) == {"headline", "cta"}
    visit = client.get(path_of(served["click_url"]) + "?" + urlsplit(served["click_url"]).query,
                       follow_redirects=False)  # fmt: skip
    assert visit.status_code == 302, visit.text
    counted = acme.call("GET", f"/v2/creatives/dco/{template}/variants").json()["data"]
    assert counted == [{"variant": served["variant"], "impressions": 0, "clicks": 1, "conversions": 0}]

    # History: "free_shipping+shop" gets 10% CTR, the others 1%; the bandit settles on it.
    account_id = acme.account.id
    template_id = idfmt.parse("dco", template)
    campaign = idfmt.parse("cmp", campaign_id)
    at = datetime.now(UTC) - timedelta(hours=1)
    events: list[Event] = []
    for key in keys:
        clicks = 100 if key == "free_shipping+shop" else 10
        for i in range(1000):
            kind = EventType.CLICK if i < clicks else EventType.IMPRESSION
            events.append(
                Event(app.container.ids.next_id(), kind, at, account_id, campaign, creative_id=template_id,
                      attrs={"variant": key})
            )  # fmt: skip
    app.container.events.append_many(events)
    picks = [acme.call("GET", f"/v2/creatives/dco/{template}/serve").json()["variant"] for _ in range(40)]
    assert picks.count("free_shipping+shop") >= 36, picks


# --- audit fixes: hostile or unusual uploads ----------------------------------------------------


@pytest.mark.parametrize("name", ["photo", "", "photo.jfif", "photo.JPE"])
def test_a_jpeg_without_a_jpeg_extension_of_its_own_is_still_a_jpeg(acme: Api, name: str) -> None:
    # The format comes from the magic bytes: no extension (or no file name) is not a mismatch.
    # Written by hand: an HTTP client leaves an empty `filename=""` out, a browser may not.
    head = '--B\r\nContent-Disposition: form-data; name="type"\r\n\r\nimage\r\n--B\r\n'
    head += (
        f'Content-Disposition: form-data; name="file"; filename="{name}"\r\nContent-Type: image/jpeg\r\n\r\n'
    )
    response = acme.client.post(
        "/v2/creatives/upload",
        content=head.encode() + banner() + b"\r\n--B--\r\n",
        headers={**acme.headers, "content-type": "multipart/form-data; boundary=B"},
    )
    assert response.status_code == 201, response.text
    result = audit(acme, response.json()["asset_id"])
    assert (result["status"], result["format"], result["findings"]) == ("approved", "jpeg", [])


def test_every_bundle_file_is_served_sandboxed(acme: Api, client: TestClient) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
    body = uploaded(
        acme, "sale.zip", bundle(files={"evil.svg": svg, "\u2713.js": b"var ok = 1;"}), type="html5"
    )
    base = path_of(body["cdn_url"]).removesuffix("index.html")
    for name in ("evil.svg", "style.css", "%E2%9C%93.js", "index.html"):
        served = client.get(base + name)
        assert served.status_code == 200, (name, served.text)
        # Opened directly, the SVG's script runs in an opaque origin, never the API's.
        assert served.headers["content-security-policy"].startswith("sandbox"), name
        assert served.headers["x-content-type-options"] == "nosniff"
    # A file name outside Latin-1 cannot go into a header: the ETag is a hash, and it revalidates.
    served = client.get(base + "%E2%9C%93.js")
    assert served.content == b"var ok = 1;"
    assert (
        client.get(base + "%E2%9C%93.js", headers={"If-None-Match": served.headers["etag"]}).status_code
        == 304
    )


def test_a_malformed_tracker_url_is_refused_naming_the_field(acme: Api) -> None:
    asset_id = uploaded(acme, BANNER, banner())["asset_id"]
    failure = error(
        acme.call("POST", "/v2/creatives/macros", {"asset_id": asset_id, "click_tracker": "https://[::1/x"}),
        422,
        "click_tracker",
    )
    assert "https://" in failure["message"]


def test_a_bundle_loading_a_script_from_a_malformed_url_is_rejected(acme: Api) -> None:
    scripts = '<script src="https://[::1/x.js"></script>'
    result = audit(acme, uploaded(acme, "sale.zip", bundle(scripts=scripts), type="html5")["asset_id"])
    assert result["status"] == "rejected"
    assert [f["message"] for f in result["findings"]] == [
        "index.html loads a script from https://[::1/x.js, not on the allowlist"
    ]


def test_a_bundle_declaring_an_absurd_ad_size_is_rejected(acme: Api) -> None:
    huge = '<meta name="ad.size" content="width=99999999999999999999999,height=250">'
    page = (
        f'<!doctype html><html><head>{huge}<script>var clickTag = "https://shop.example.com/";'
        "</script></head><body>Sale</body></html>"
    )
    result = audit(acme, uploaded(acme, "sale.zip", bundle(index=page), type="html5")["asset_id"])
    assert result["status"] == "rejected"
    assert (result["width"], result["height"]) == (None, None)
    assert any("at most 10000 px" in f["message"] for f in result["findings"]), result


@pytest.mark.parametrize("values", [[None], [{"a": 1}], ["Buy", None], "Buy"])
def test_dco_values_must_be_strings(acme: Api, values: Any) -> None:
    body = {"name": "Dynamic", "variables": {"cta": values}}
    failure = error(acme.call("POST", "/v2/creatives/dco", body), 422, "variables.cta")
    assert failure["message"] == "values must be a list of strings"
    listed = {"name": "Dynamic", "variables": [{"name": "cta", "values": values}]}
    error(acme.call("POST", "/v2/creatives/dco", listed), 422, "variables.cta")


def test_no_tag_for_a_campaign_without_a_landing_page(acme: Api, client: TestClient) -> None:
    campaign_id = acme.create()  # no destination_url: its clicks would have nowhere to go
    asset_id = uploaded(acme, BANNER, banner())["asset_id"]
    failure = error(
        acme.call("GET", f"/v2/creatives/{asset_id}/tag", campaign_id=campaign_id), 409, "campaign_id"
    )
    assert campaign_id in failure["message"] and "destination_url" in failure["message"]
    assert acme.call("GET", f"/v2/creatives/{asset_id}/tag").status_code == 200  # untracked: fine


def _visit(client: TestClient, url: str) -> Any:
    response = client.get(f"{path_of(url)}?{urlsplit(url).query}", follow_redirects=False)
    assert response.status_code == 302, response.text
    return response


def test_the_creative_is_named_as_the_api_names_it_in_landings_and_reports(
    acme: Api, client: TestClient
) -> None:
    campaign_id = acme.create(destination_url="https://shop.example.com/?ad={creative_id}")
    asset_id = uploaded(acme, BANNER, banner(), campaign_id=campaign_id)["asset_id"]
    tag = acme.call("GET", f"/v2/creatives/{asset_id}/tag", campaign_id=campaign_id).json()
    landed = _visit(client, tag["click_url"]).headers["location"]
    assert landed.startswith(f"https://shop.example.com/?ad={asset_id}&"), landed

    body = {"name": "Dynamic", "variables": {"cta": ["Buy now"]}, "campaign_id": campaign_id}
    template = acme.call("POST", "/v2/creatives/dco", body).json()["dco_template_id"]
    served = acme.call("GET", f"/v2/creatives/dco/{template}/serve").json()
    landed = _visit(client, served["click_url"]).headers["location"]
    assert landed.startswith(f"https://shop.example.com/?ad={template}&"), landed

    report = acme.call("GET", "/v2/reports/creatives", campaign_id=campaign_id).json()["data"]
    assert sorted((r["creative_id"], r["variant"]) for r in report) == sorted(
        [(asset_id, None), (template, "buy_now")]
    )


def test_dco_variant_figures_net_charged_back_conversions(tmp_path: Path) -> None:
    clock = FrozenClock()
    with app_at(tmp_path, clock, "https://trk.example.com") as app, TestClient(app) as client:
        acme = Api(app, client)
        campaign_id = acme.create(destination_url="https://shop.example.com/")
        body = {"name": "Dynamic", "variables": {"cta": ["Buy now"]}, "campaign_id": campaign_id}
        template = acme.call("POST", "/v2/creatives/dco", body).json()["dco_template_id"]
        url = acme.call("GET", f"/v2/creatives/dco/{template}/serve").json()["click_url"]
        browser = {"User-Agent": CHROME, "Accept-Language": "en-US,en;q=0.9"}
        landed = client.get(f"{path_of(url)}?{urlsplit(url).query}", headers=browser, follow_redirects=False)
        [click_id] = parse_qs(urlsplit(landed.headers["location"]).query)["click_id"]
        clock.now += timedelta(minutes=5)
        raw = json.dumps({"click_id": click_id, "event_type": "purchase", "revenue": 50}).encode()
        signature = sign(acme.account.signing_secret, raw, int(clock.now.timestamp()))
        headers = {**acme.headers, "Content-Type": "application/json", "X-Auctera-Signature": signature}
        sale = client.post("/v2/conversions", content=raw, headers=headers)
        assert sale.status_code in (200, 201), sale.text

        def variants() -> Any:
            return acme.call("GET", f"/v2/creatives/dco/{template}/variants").json()["data"]

        assert variants() == [{"variant": "buy_now", "impressions": 0, "clicks": 1, "conversions": 1}]
        reversal = {"transaction_id": sale.json()["transaction_id"], "reason": "chargeback"}
        assert acme.call("POST", "/v2/conversions/reversal", reversal).status_code == 200
        # Charged back: the variant's conversion is taken back, as the creative report does.
        assert variants() == [{"variant": "buy_now", "impressions": 0, "clicks": 1, "conversions": 0}]
        report = acme.call("GET", "/v2/reports/creatives", campaign_id=campaign_id).json()["data"]
        assert [(r["creative_id"], r["conversions"]) for r in report] == [(template, 0)]
