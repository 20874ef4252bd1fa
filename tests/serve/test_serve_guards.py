"""Who may ask (guards.py): only this server's own Host names, and only its own page's
Origin on a POST."""

import httpx

from impaint.model import ImplicitInpainter, ModelConfig
from impaint.serve.app import create_app
from impaint.serve.server import running

from .conftest import assert_one_line_error, box_mask, encode, mask_png, noise_image


def test_only_this_servers_own_names_and_page_are_answered():
    """A site rebound to 127.0.0.1 by DNS sends its own name as Host (400); a page of another
    site may POST a form here (no CORS check stops a form) but its Origin says so (403)."""
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=1))
    data, hole = encode(noise_image()), mask_png(box_mask())
    with running(create_app(model, "tiny")) as url:
        port = url.rsplit(":", 1)[1]
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
            assert httpx.get(f"{url}/api/info", headers={"Host": host}).status_code == 200
        r = httpx.get(f"{url}/api/info", headers={"Host": f"attacker.example:{port}"})
        assert "tiny" not in r.text
        assert_one_line_error(r, 400, f"not 'attacker.example:{port}': open the page at {url}")
        for bad in ("", "[::1", "127.0.0.2", f"attacker.example@localhost:{port}",
                    f"localhost/x:{port}"):  # none, an unclosed [, another address, no names
            r = httpx.get(f"{url}/api/info", headers={"Host": bad})
            assert_one_line_error(r, 400, "this server answers its own names only")
        for origin in ("http://attacker.example", "null", f"http://localhost:{port}"):
            r = httpx.post(f"{url}/api/inpaint", files={"image": ("a.png", data),
                                                        "mask": ("m.png", hole)},
                           headers={"Origin": origin})
            assert_one_line_error(r, 403, f"not from {origin}")
        r = httpx.post(f"{url}/api/preview", files={"image": ("a.png", data)},
                       headers={"Origin": "http://attacker.example"})
        assert_one_line_error(r, 403, "this server answers its own page only")
        r = httpx.post(f"{url}/api/inpaint", files={"image": ("a.png", data),
                                                    "mask": ("m.png", hole)},
                       headers={"Origin": url})  # the page itself
        assert r.status_code == 200
    # on every interface the machine's names on the network are not known: any Host
    with running(create_app(model, "tiny", host="0.0.0.0"), "0.0.0.0") as url:
        assert httpx.get(f"{url}/api/info", headers={"Host": "my-pc.lan"}).status_code == 200
    with running(create_app(model, "tiny", host="127.1"), "127.1") as url:
        port = url.rsplit(":", 1)[1]
        assert httpx.get(f"{url}/api/info", headers={"Host": f"127.1:{port}"}).status_code == 200
