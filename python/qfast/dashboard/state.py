"""The Panel dashboard: a :class:`Dashboard` viewer holding the state as ``param`` parameters, and :func:`serve`.

The state class calls only qfast's public API (through :mod:`qfast.dashboard.compute`), so unit tests drive it by
setting parameters, with no browser. In a server, each change of a control starts one computation in a worker
thread; changes that arrive meanwhile collapse into one follow-up (latest wins), so quick clicks never pile up stale
work, and results are cached by (image, settings).
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
import panel as pn
import param

import qfast

from . import compute, views
from .charts import histogram_chart
from .compute import FEATURES, FeatureUnavailable, Result, Settings, UploadError

#: Uploads kept per page (older ones leave the image list).
MAX_UPLOADS = 4

#: Images with a longer side are reduced to this for the dashboard (the note says so), to keep it interactive.
MAX_SIDE = 2048

_METHOD_LABELS = {"uniform": "uniform", "lloyd-max": "Lloyd-Max", "mu-law": "mu-law", "palette": "k-means palette"}
_UNAVAILABLE = "not available in this build of qfast"


class _LRU:
    """A small thread-safe least-recently-used cache."""

    def __init__(self, size: int) -> None:
        self._d: OrderedDict[Any, Any] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                self.hits += 1
                return self._d[key]
            self.misses += 1
        value = make()
        with self._lock:
            self._d[key] = value
            while len(self._d) > self._size:
                self._d.popitem(last=False)
        return value

    def peek(self, key: Any) -> Any:
        """The cached value, or None (counted as a hit when there)."""
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                self.hits += 1
                return self._d[key]
        return None

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._d[key] = value
            while len(self._d) > self._size:
                self._d.popitem(last=False)

    def __contains__(self, key: Any) -> bool:
        with self._lock:
            return key in self._d


class SwipeView(pn.custom.JSComponent):
    """The swipe comparison as a browser-side component: the original left of a slider, the result right of it.

    Only the changed image travels when a setting changes (the original stays in the page), and the slider and zoom
    work in the browser without a round trip.
    """

    before = param.String(default="", doc="The original as a data: URI.")
    after = param.String(default="", doc="The result as a data: URI.")
    image_width = param.Integer(default=1, doc="The images' width in pixels.")
    image_height = param.Integer(default=1, doc="The images' height in pixels.")
    zoom = param.Selector(default="fit", objects=["fit", "1:1", "2:1", "4:1"], doc="Fit the width, or n:1 pixels.")

    _esm = """
    export function render({ model, el }) {
      const wrap = document.createElement('div');
      wrap.className = 'qf-swipe';
      const scroll = document.createElement('div');
      scroll.style.cssText = 'overflow:auto;max-width:100%;max-height:640px;border:1px solid #ccc';
      const stage = document.createElement('div');
      stage.className = 'qf-stage';
      stage.style.position = 'relative';
      const css = 'position:absolute;left:0;top:0;width:100%;height:100%;image-rendering:pixelated;user-select:none';
      const after = document.createElement('img');
      after.className = 'qf-after'; after.alt = 'result'; after.style.cssText = css;
      const before = document.createElement('img');
      before.className = 'qf-before'; before.alt = 'original'; before.style.cssText = css;
      const bar = document.createElement('div');
      bar.style.cssText = 'position:absolute;top:0;bottom:0;width:2px;background:#fff;box-shadow:0 0 3px #000;' +
        'pointer-events:none';
      stage.append(after, before, bar);
      scroll.append(stage);
      const row = document.createElement('div');
      row.style.cssText = 'display:flex;align-items:center;gap:8px;font-size:12px;margin-top:4px';
      const slider = document.createElement('input');
      slider.type = 'range'; slider.min = 0; slider.max = 100; slider.value = 50; slider.className = 'qf-slider';
      slider.style.flex = '1';
      row.append('original', slider, 'result');
      const cut = () => {
        before.style.clipPath = `inset(0 ${100 - slider.value}% 0 0)`;
        bar.style.left = `${slider.value}%`;
      };
      const size = () => {
        const f = {'fit': 0, '1:1': 1, '2:1': 2, '4:1': 4}[model.zoom] || 0;
        stage.style.width = f ? `${model.image_width * f}px` : '100%';
        stage.style.aspectRatio = `${model.image_width} / ${model.image_height}`;
      };
      slider.addEventListener('input', cut);
      after.src = model.after; before.src = model.before;
      model.on('after', () => { after.src = model.after; });
      model.on('before', () => { before.src = model.before; });
      model.on('zoom', size); model.on('image_width', size); model.on('image_height', size);
      cut(); size();
      wrap.append(scroll, row);
      return wrap;
    }
    """


class Dashboard(pn.viewable.Viewer):
    """What quantization does to an image: the state of the dashboard, and its page (``__panel__``).

    Set the parameters (as the page's controls do) and read :attr:`result`; everything is computed through qfast's
    public API. ``background=True`` (the server) computes in a worker thread; the default computes at once, which
    is what tests and notebooks want.

    Example:
        >>> d = Dashboard()
        >>> d.bits = 2
        >>> round(d.result.psnr, 1)
        22.7
    """

    source = param.Selector(
        default="parrots", objects=["parrots"], label="Image", doc="The image: a bundled sample or an upload."
    )
    method = param.Selector(default="uniform", objects=["uniform", "lloyd-max", "mu-law"], doc="The quantizer.")
    level_mode = param.Selector(
        default="bits", objects=["bits", "levels"], label="Give", doc="Give bits per channel or levels."
    )
    bits = param.Integer(default=4, bounds=(1, 8), label="Bits per channel", doc="Bits per channel (levels = 2**bits).")
    levels = param.Integer(
        default=16, bounds=(2, 256), label="Levels per channel", doc="Levels per channel, when level_mode is 'levels'."
    )
    reconstruction = param.Selector(
        default="midpoint", objects=list(compute.RECONSTRUCTIONS), doc="Uniform: bin middles or 0..255 end to end."
    )
    k = param.Selector(default=16, objects=list(compute.PALETTE_SIZES), label="Palette size K", doc="Palette size K.")
    dither = param.Selector(default="none", objects=list(compute.DITHERS), label="Dithering", doc="Palette dithering.")
    color_space = param.Selector(
        default="rgb", objects=list(compute.COLOR_SPACES), label="Colour space", doc="Palette clustering space."
    )
    corrector = param.Selector(
        default="off",
        objects=list(compute.CORRECTORS),
        doc="Run the corrector on a uniform mid-bin result (fp32 or int8 model).",
    )
    zoom = param.Selector(
        default="fit", objects=["fit", "1:1", "2:1", "4:1"], label="Zoom", doc="Zoom of the swipe comparison."
    )
    azimuth = param.Integer(
        default=35, bounds=(0, 359), label="Turn the cube", doc="Turn of the 3-D colour scatter, degrees."
    )
    codec_mode = param.Selector(default="bounded", objects=["bounded", "levels"], label="Codec mode", doc="Codec mode.")
    max_error = param.Integer(
        default=2, bounds=(0, 32), label="Max error d", doc="Codec, bounded mode: largest error per channel."
    )
    codec_levels = param.Integer(
        default=16, bounds=(2, 256), label="Codec levels", doc="Codec, levels mode: levels per channel."
    )

    message = param.String(default="", doc="An error for the page (a refused upload, a failed computation).")
    note = param.String(default="", doc="A remark about the image (converted, reduced).")
    busy = param.Boolean(default=False, doc="True while a computation runs.")
    result = param.Parameter(default=None, doc="The current :class:`~qfast.dashboard.compute.Result`.")
    revision = param.Integer(default=0, doc="Counts applied results; views that follow the result watch it.")

    def __init__(
        self,
        *,
        background: bool = False,
        max_upload_bytes: int = compute.MAX_UPLOAD_BYTES,
        max_pixels: int = compute.MAX_PIXELS,
        **params: Any,
    ) -> None:
        names = qfast.samples.names()
        self.param.source.objects = list(names)
        methods = ["uniform", "lloyd-max", "mu-law"] + (["palette"] if FEATURES["palette"] else [])
        self.param.method.objects = methods
        params.setdefault("source", "parrots" if "parrots" in names else names[0])
        self._background = background
        self.max_upload_bytes = max_upload_bytes
        self.max_pixels = max_pixels
        self._images: dict[str, np.ndarray] = {}
        self._tokens: dict[str, int] = {}
        self._next_token = 0
        self._cache = _LRU(32)  # a result with its pictures is a few MB: keep a page's memory bounded
        self._gen = 0
        self._lock: asyncio.Lock | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qfast-dashboard")
        self._views = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qfast-dashboard-views")
        self._side = ThreadPoolExecutor(max_workers=2, thread_name_prefix="qfast-dashboard-side")
        self._notes: dict[str, str] = {}
        # Persistent panes, updated in place: replacing a pane's object is cheaper than rebuilding the layout.
        self._swipe = SwipeView(sizing_mode="stretch_width", css_classes=["qf-swipe-pane"])
        self._metrics = pn.pane.HTML("", css_classes=["qf-metrics-pane"], width=380)
        self._heat = pn.pane.HTML("", css_classes=["qf-heat-pane"])
        self._hist = pn.pane.HTML("", css_classes=["qf-hist-pane"])
        super().__init__(**params)
        self._load_source()
        self._refresh_now()

    def close(self) -> None:
        """Stops the worker threads (the server calls this when the page is closed)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._side.shutdown(wait=False, cancel_futures=True)
        self._views.shutdown(wait=False, cancel_futures=True)

    # ----------------------------------------------------------------------------------------------------------
    # State

    @property
    def image(self) -> np.ndarray:
        """The current original image (uint8 (H, W) or (H, W, 3))."""
        return self._images[self.source]

    @property
    def image_name(self) -> str:
        """The current image's name (a sample's, or the uploaded file's without ``upload:``)."""
        return self.source.split(": ", 1)[-1]

    def settings(self) -> Settings:
        """The current settings as one hashable value (canonical: controls that do not apply are left out)."""
        return Settings(
            method=self.method,
            bits=self.bits,
            levels=self.levels,
            level_mode=self.level_mode,
            reconstruction=self.reconstruction,
            k=int(self.k),
            dither=self.dither,
            color_space=self.color_space,
            corrector=self.corrector,
        ).canonical()

    def _token(self) -> int:
        return self._tokens[self.source]

    def _set_image(self, name: str, img: np.ndarray, note: str = "") -> None:
        h, w = img.shape[:2]
        if max(h, w) > MAX_SIDE:
            from PIL import Image

            f = MAX_SIDE / max(h, w)
            size = (max(1, round(w * f)), max(1, round(h * f)))
            img = np.asarray(compute.to_pil(img).resize(size, Image.Resampling.LANCZOS))
            note = (note + "; " if note else "") + f"{w} x {h} reduced to {size[0]} x {size[1]} for the dashboard"
        self._images[name] = np.ascontiguousarray(img)
        self._tokens[name] = self._next_token
        self._next_token += 1
        self._notes[name] = note

    def _load_source(self) -> None:
        if self.source not in self._images:
            self._set_image(self.source, qfast.samples.load(self.source))
        self.note = self._notes.get(self.source, "")

    def load_file(self, filename: str, data: bytes) -> bool:
        """Loads an uploaded file and makes it the current image.

        Returns:
            True when it loaded; otherwise :attr:`message` says why and the previous image stays.
        """
        try:
            img, note = compute.load_upload(filename, data, max_bytes=self.max_upload_bytes, max_pixels=self.max_pixels)
        except UploadError as e:
            self.message = str(e)
            return False
        self._accept_upload(filename, img, note)
        return True

    async def _load_file_async(self, filename: str, data: bytes) -> None:
        """:meth:`load_file` with the decoding in a worker thread, so a big file does not freeze the page."""
        self.busy = True
        try:
            img, note = await asyncio.get_running_loop().run_in_executor(
                self._views,
                lambda: compute.load_upload(
                    filename, data, max_bytes=self.max_upload_bytes, max_pixels=self.max_pixels
                ),
            )
        except UploadError as e:
            self.message = str(e)
            return
        finally:
            self.busy = False
        self._accept_upload(filename, img, note)

    def _accept_upload(self, filename: str, img: np.ndarray, note: str) -> None:
        name = f"upload: {Path(filename).name}"
        self._set_image(name, img, note)
        objects = [o for o in self.param.source.objects if o != name] + [name]
        uploads = [o for o in objects if o.startswith("upload: ")]
        for old in uploads[:-MAX_UPLOADS]:  # keep memory bounded: the oldest uploads go
            objects.remove(old)
            self._images.pop(old, None)
        self.param.source.objects = objects
        self.message = ""
        if self.source == name:
            self._load_source()
            self._request()
        else:
            self.source = name

    # ----------------------------------------------------------------------------------------------------------
    # Computation

    @param.depends("source", watch=True)
    def _on_source(self) -> None:
        self._load_source()
        self._request()

    @param.depends(
        "method",
        "level_mode",
        "bits",
        "levels",
        "reconstruction",
        "k",
        "dither",
        "color_space",
        "corrector",
        watch=True,
    )
    def _on_control(self) -> None:
        self._request()

    @param.depends("zoom", watch=True, on_init=True)
    def _on_zoom(self) -> None:
        self._swipe.zoom = self.zoom  # the browser re-lays out the images; nothing to compute

    def _request(self) -> None:
        self._gen += 1
        if self._background and pn.state.curdoc is not None:
            pn.state.execute(self._refresh_async)
        else:
            self._refresh_now()

    def _refresh_now(self) -> None:
        try:
            out = self._compute_main(self._token(), self.image, self.settings())
        except (FeatureUnavailable, ValueError, TypeError) as e:
            self.message = str(e)
            return
        self._apply(out)

    async def _refresh_async(self) -> None:
        gen = self._gen
        if ("main", self._token(), self.settings()) in self._cache:  # seen before: show it at once
            self._apply(self._compute_main(self._token(), self.image, self.settings()))
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        loop = asyncio.get_running_loop()
        async with self._lock:
            if gen != self._gen:
                return  # a newer change is queued behind this one and will do the work
            args = (self._token(), self.image, self.settings())
            self.busy = True
            try:
                out = await loop.run_in_executor(self._executor, partial(self._compute_main, *args, defer_ssim=True))
            except (FeatureUnavailable, ValueError, TypeError) as e:
                self.message = str(e)
                self.busy = False
                return
            if gen == self._gen:
                self._apply(out)  # the pictures and PSNR now; SSIM (the slowest metric) follows
        if "ssim" in out:
            try:
                out = await loop.run_in_executor(None, self._finish, *args, out)
            finally:
                if gen == self._gen:
                    self.busy = False
            if gen == self._gen:
                self._metrics.object = out["metrics"]
        elif gen == self._gen:
            self.busy = False

    def _result(self, token: int, img: np.ndarray, s: Settings, *, with_ssim: bool = True) -> Result:
        return self._cache.get(("result", token, s, with_ssim), lambda: compute.quantize(img, s, with_ssim=with_ssim))

    def _original_uri(self, token: int, img: np.ndarray) -> str:
        return self._cache.get(("uri", token), lambda: compute.data_uri(img))

    def _compute_main(self, token: int, img: np.ndarray, s: Settings, *, defer_ssim: bool = False) -> dict[str, Any]:
        """Everything the Compare and Error tabs show, as HTML, computed off the page's thread.

        With ``defer_ssim``, a result not seen before comes back before its SSIM is known: ``out["ssim"]`` is then
        the pending future, and :meth:`_finish` completes (and caches) it.
        """
        key = ("main", token, s)
        hit = self._cache.peek(key)
        if hit is not None:
            return hit
        ssim = None
        if ("result", token, s, True) in self._cache:
            r = self._result(token, img, s)
        else:
            # SSIM is the slowest step: run it beside the picture encodings (both release the GIL).
            r = compute.quantize(img, s, with_ssim=False)
            ssim = self._side.submit(compute.ssim_or_nan, img, r.image)
        heat_future = self._side.submit(views.heat_map, img, r)
        after = compute.data_uri(r.image)
        hist = histogram_chart(self._hist_of(token, img), compute.histograms(r.image))
        h, w = img.shape[:2]
        out = {
            "result": r,
            "after": after,
            "before": self._original_uri(token, img),
            "size": (w, h),
            "heat": heat_future.result(),
            "hist": hist,
        }
        if ssim is not None:
            out["ssim"] = ssim
            if defer_ssim:
                out["metrics"] = views.metrics_table(img, r, ssim_pending=True)
                return out
            return self._finish(token, img, s, out)
        out["metrics"] = views.metrics_table(img, r)
        self._cache.put(key, out)
        return out

    def _finish(self, token: int, img: np.ndarray, s: Settings, out: dict[str, Any]) -> dict[str, Any]:
        """Waits for a pending SSIM, completes the metrics and caches the result."""
        r = out["result"]
        r.ssim = out.pop("ssim").result()
        out["metrics"] = views.metrics_table(img, r)
        self._cache.put(("result", token, s, True), r)
        self._cache.put(("main", token, s), out)
        return out

    def _hist_of(self, token: int, img: np.ndarray) -> np.ndarray:
        return self._cache.get(("hist", token), lambda: compute.histograms(img))

    def _apply(self, out: dict[str, Any]) -> None:
        w, h = out["size"]
        self._swipe.param.update(before=out["before"], after=out["after"], image_width=w, image_height=h)
        self._metrics.object = out["metrics"]
        self._heat.object = out["heat"]
        self._hist.object = out["hist"]
        self.result = out["result"]
        self.revision += 1

    # Views computed on demand (their tab is open, or an export asks), cached by what they depend on.

    def ladder_results(self) -> list[Result]:
        """The ladder's rungs for the current method (8, 4, 2, 1 bits, or K = 256, 64, 16, 4, 2)."""
        token, img, s = self._token(), self.image, self.settings()
        return [self._result(token, img, t) for t in compute.ladder_settings(s)]

    def rd_curves(self) -> dict[str, list[tuple[float, float, str]]]:
        """Rate-distortion curves of the current image (qfast's modes, JPEG, WebP)."""
        token, img = self._token(), self.image
        return self._cache.get(("rd", token), lambda: compute.rate_distortion(img))

    def codec_result(self) -> dict[str, Any]:
        """The codec round trip with the current codec settings. Raises FeatureUnavailable without the codec."""
        compute.require("codec")
        token, img = self._token(), self.image
        kw = {"max_error": self.max_error} if self.codec_mode == "bounded" else {"levels": self.codec_levels}
        return self._cache.get(("codec", token, tuple(kw.items())), lambda: compute.codec_roundtrip(img, **kw))

    def corrector_result(self) -> dict[str, Any]:
        """fp32 against int8 corrector on the uniform mid-bin result at the current level count."""
        compute.require("corrector")
        token, img, L = self._token(), self.image, self.settings().level_count
        return self._cache.get(("corrector", token, L), lambda: compute.corrector_comparison(img, L))

    # ----------------------------------------------------------------------------------------------------------
    # Exports

    def _stem(self) -> str:
        s = self.settings()
        tag = f"k{s.k}" if s.method == "palette" else f"{s.method}-{s.level_count}"
        return f"{Path(self.image_name).stem}-{tag}"

    def export(self, kind: str) -> tuple[str, bytes]:
        """A download: ``(filename, bytes)`` for ``kind`` in ``png``, ``indexed-png``, ``gif``, ``qfz``,
        ``ladder-gif``, ``report``.

        Raises:
            ValueError: unknown ``kind``, or an indexed format of a result with more than 256 colours.
            FeatureUnavailable: ``qfz`` without the codec.
        """
        r = self.result
        if kind in ("png", "indexed-png", "gif"):
            ext = ".gif" if kind == "gif" else ".png"
            return self._stem() + ("-indexed" if kind == "indexed-png" else "") + ext, compute.export_bytes(r, kind)
        if kind == "qfz":
            return self._stem() + ".qfz", self.codec_result()["data"]
        if kind == "ladder-gif":
            return self._stem() + "-ladder.gif", compute.ladder_gif(self.image, self.ladder_results())
        if kind == "report":
            from .report import build_report

            html = build_report(
                self.image,
                self.settings(),
                name=self.image_name,
                result=r,
                rungs=self.ladder_results(),
                rd=self.rd_curves(),
            )
            return self._stem() + "-report.html", html.encode("utf-8")
        raise ValueError(f"kind: expected png, indexed-png, gif, qfz, ladder-gif or report, got {kind!r}")

    def _download(self, kind: str, label: str) -> pn.widgets.FileDownload:
        widget = pn.widgets.FileDownload(
            label=label, filename=f"qfast.{kind}", sizing_mode="stretch_width", css_classes=[f"qf-dl-{kind}"]
        )

        def callback() -> io.BytesIO | None:
            try:
                name, data = self.export(kind)
            except (ValueError, FeatureUnavailable) as e:
                self.message = f"export: {e}"
                return None
            widget.filename = name
            return io.BytesIO(data)

        widget.callback = callback
        return widget

    # ----------------------------------------------------------------------------------------------------------
    # The page

    def _explain(self, key: str, width: int = 300) -> pn.pane.HTML:
        return pn.pane.HTML(f"<div style='font-size:13px;color:#333'>{views.EXPLAIN[key]}</div>", width=width)

    @param.depends("revision")
    def _ladder_view(self) -> Any:
        return pn.pane.HTML(
            views.ladder(self.image, self.ladder_results(), current=self.settings()), sizing_mode="stretch_width"
        )

    @param.depends("revision", "azimuth")
    def _palette_view(self) -> Any:
        if not FEATURES["palette"]:
            return pn.pane.HTML(views.note(f"Colour palettes: {_UNAVAILABLE}."))
        r = self.result
        if r is None or r.palette is None:
            return pn.pane.HTML(views.note("Choose the k-means palette method to see its palette."))
        dots = self._cache.get(("pixels", self._token()), lambda: compute.sample_pixels(self.image))
        scatter = compute.scatter3d(dots, r.palette, azimuth=self.azimuth)
        return pn.Column(
            pn.pane.HTML(views.swatches(r.palette)),
            pn.pane.HTML(f"<img alt='colour scatter' src='{compute.data_uri(scatter)}'>"),
        )

    @param.depends("revision")
    def _rd_view(self) -> Any:
        r = self.result
        npx = self.image.shape[0] * self.image.shape[1]
        cur = (r.bpp(npx), r.psnr, r.settings.label()) if r is not None else None
        return pn.pane.HTML(views.rd_plot(self.rd_curves(), cur))

    @param.depends("source", "codec_mode", "max_error", "codec_levels")
    def _codec_view(self) -> Any:
        if not FEATURES["codec"]:
            return pn.pane.HTML(views.note(f"The .qfz codec: {_UNAVAILABLE}."))
        try:
            res = self.codec_result()
        except (ValueError, TypeError) as e:
            return pn.pane.HTML(views.note(f"codec: {e}"))
        figs = [views.figure(res["plain"]["image"], "decoded (no corrector)")]
        if res.get("corrected"):
            figs.append(views.figure(res["corrected"]["image"], "decoded with the corrector"))
        return pn.Column(
            pn.pane.HTML(views.codec_table(res, self.image)),
            pn.pane.HTML("<div style='display:flex;gap:10px'>" + "".join(figs) + "</div>"),
        )

    @param.depends("revision")
    def _corrector_view(self) -> Any:
        if not FEATURES["corrector"]:
            return pn.pane.HTML(views.note(f"The corrector: {_UNAVAILABLE}."))
        if self.image.ndim != 3:
            return pn.pane.HTML(views.note("The corrector works on RGB images."))
        res = self.corrector_result()
        L = self.settings().level_count
        figs = "".join(
            views.figure(res[k]["image"], cap, width=240)
            for k, cap in (("midbin", f"mid-bin, {L} levels"), ("fp32", "corrector fp32"), ("int8", "corrector int8"))
        )
        return pn.Column(
            pn.pane.HTML(views.corrector_table(res)), pn.pane.HTML(f"<div style='display:flex;gap:10px'>{figs}</div>")
        )

    def _controls(self) -> pn.Column:
        p = self.param
        w = pn.widgets
        is_scalar = p.method.rx() != "palette"
        is_palette = p.method.rx() == "palette"
        dropper = w.FileDropper(
            multiple=False,
            max_file_size=f"{self.max_upload_bytes // (1024 * 1024)}MB",
            layout="compact",
            sizing_mode="stretch_width",
            css_classes=["qf-upload"],
        )

        def on_upload(event: Any) -> None:
            if event.new:
                name, data = list(event.new.items())[-1]
                data = data if isinstance(data, bytes) else str(data).encode()
                if self._background and pn.state.curdoc is not None:
                    pn.state.execute(partial(self._load_file_async, name, data))
                else:
                    self.load_file(name, data)

        dropper.param.watch(on_upload, "value")
        corr: Any
        if FEATURES["corrector"]:
            corr = w.RadioButtonGroup.from_param(
                p.corrector, visible=(p.method.rx() == "uniform") & (p.reconstruction.rx() == "midpoint")
            )
        else:
            corr = pn.pane.HTML(f"<div style='font-size:12px;color:#666'>Corrector: {_UNAVAILABLE}</div>")
        palette_note = (
            []
            if FEATURES["palette"]
            else [pn.pane.HTML(f"<div style='font-size:12px;color:#666'>k-means palettes: {_UNAVAILABLE}</div>")]
        )
        downloads = [
            self._download("png", "Result (PNG)"),
            self._download("indexed-png", "Result (indexed PNG)"),
            self._download("gif", "Result (GIF)"),
        ]
        if FEATURES["codec"]:
            downloads.append(self._download("qfz", "Compressed (.qfz)"))
        downloads += [
            self._download("ladder-gif", "Ladder (animated GIF)"),
            self._download("report", "Report (offline HTML)"),
        ]
        limits = (
            f"<div style='font-size:12px;color:#666'>PNG, JPEG, WebP, TIFF{', .qfz' if FEATURES['codec'] else ''};"
            f" up to {self.max_upload_bytes // (1024 * 1024)} MB and {self.max_pixels // 1_000_000} MP</div>"
        )
        return pn.Column(
            w.Select.from_param(p.source, css_classes=["qf-source"], sizing_mode="stretch_width"),
            dropper,
            pn.pane.HTML(limits),
            pn.pane.HTML("<b>Quantizer</b>"),
            w.Select.from_param(p.method, sizing_mode="stretch_width", css_classes=["qf-method"]),
            w.RadioButtonGroup.from_param(p.level_mode, visible=is_scalar),
            w.RadioButtonGroup.from_param(
                p.bits,
                options=list(range(1, 9)),
                css_classes=["qf-bits"],
                visible=is_scalar & (p.level_mode.rx() == "bits"),
            ),
            w.IntInput.from_param(
                p.levels, css_classes=["qf-levels"], visible=is_scalar & (p.level_mode.rx() == "levels")
            ),
            w.RadioButtonGroup.from_param(p.reconstruction, visible=p.method.rx() == "uniform"),
            w.Select.from_param(p.k, visible=is_palette),
            w.Select.from_param(p.dither, visible=is_palette),
            w.RadioButtonGroup.from_param(p.color_space, visible=is_palette),
            *palette_note,
            corr,
            pn.pane.HTML("<b>Export</b>"),
            *downloads,
            width=300,
        )

    def __panel__(self) -> Any:
        pn.extension("filedropper")
        msg = pn.pane.Alert(
            self.param.message,
            alert_type="danger",
            visible=self.param.message.rx() != "",
            css_classes=["qf-message"],
            sizing_mode="stretch_width",
        )
        note = pn.pane.Alert(
            self.param.note, alert_type="info", visible=self.param.note.rx() != "", sizing_mode="stretch_width"
        )
        spinner = pn.indicators.LoadingSpinner(value=self.param.busy, size=22, css_classes=["qf-busy"])
        header = pn.Row(
            pn.pane.HTML(
                "<div style='font-size:22px;font-weight:600'>qfast: what quantization does"
                "</div><div style='font-size:13px;color:#555'>Pick a method and a bit depth, "
                "and see what it keeps, what it loses and what it saves.</div>"
            ),
            spinner,
        )
        compare = pn.Row(
            pn.Column(
                self._swipe, pn.widgets.RadioButtonGroup.from_param(self.param.zoom), sizing_mode="stretch_width"
            ),
            pn.Column(self._metrics, self._explain("compare", 380), self._explain("methods", 380), width=400),
            sizing_mode="stretch_width",
        )
        error = pn.Row(
            pn.Column(self._heat, self._hist), pn.Column(self._explain("error", 320), self._explain("histogram", 320))
        )

        def lazy(fn: Any) -> Any:
            deps = [getattr(self.param, n) for n in fn._dinfo["dependencies"]]

            # Heavy views (rate-distortion, codec, corrector) compute in a worker thread; the page stays live and
            # shows a spinner meanwhile. Only the open tab computes (the tabs are dynamic, the views lazy).
            @param.depends(*deps)
            async def view(*_values: Any, **_named: Any) -> Any:
                return await asyncio.get_running_loop().run_in_executor(self._views, fn)

            if not self._background:
                return pn.param.ParamMethod(fn, lazy=True, loading_indicator=True)
            return pn.param.ParamFunction(view, lazy=True, loading_indicator=True)

        codec_controls = (
            pn.Row(
                pn.widgets.RadioButtonGroup.from_param(self.param.codec_mode),
                pn.widgets.IntSlider.from_param(self.param.max_error, visible=self.param.codec_mode.rx() == "bounded"),
                pn.widgets.IntSlider.from_param(
                    self.param.codec_levels, visible=self.param.codec_mode.rx() == "levels"
                ),
            )
            if FEATURES["codec"]
            else pn.Spacer(height=0)
        )
        tabs = pn.Tabs(
            ("Compare", compare),
            ("Error & histograms", error),
            ("Ladder", pn.Column(self._explain("ladder", 700), lazy(self._ladder_view))),
            (
                "Palette",
                pn.Row(
                    pn.Column(lazy(self._palette_view), pn.widgets.IntSlider.from_param(self.param.azimuth)),
                    self._explain("palette"),
                ),
            ),
            ("Rate-distortion", pn.Row(lazy(self._rd_view), self._explain("rd"))),
            ("Codec", pn.Row(pn.Column(codec_controls, lazy(self._codec_view)), self._explain("codec"))),
            ("Model quantization", pn.Row(lazy(self._corrector_view), self._explain("corrector", 360))),
            dynamic=True,
            sizing_mode="stretch_width",
            css_classes=["qf-tabs"],
        )
        return pn.Column(
            header, msg, note, pn.Row(self._controls(), tabs, sizing_mode="stretch_width"), sizing_mode="stretch_width"
        )


def create_app() -> pn.viewable.Viewable:
    """One browser page: a fresh :class:`Dashboard` (its own state and uploads) that computes in the background."""
    d = Dashboard(background=True)
    if pn.state.curdoc is not None:
        pn.state.on_session_destroyed(lambda _context: d.close())
    return d.__panel__()


def serve(
    port: int = 5006, *, show: bool = False, address: str = "127.0.0.1", threaded: bool = False, **kwargs: Any
) -> Any:
    """Serves the dashboard with Panel (Bokeh's server); blocks unless ``threaded``.

    Args:
        port: TCP port (0 picks a free one).
        show: open it in the default web browser.
        address: the address to listen on (loopback by default).
        threaded: run the server in a background thread and return it (``.stop()`` ends it).
        **kwargs: passed to :func:`panel.serve`.

    Returns:
        The server, or its thread when ``threaded``.
    """
    pn.extension("filedropper")
    kwargs.setdefault("websocket_max_message_size", 64 * 1024 * 1024)
    return pn.serve(
        {"/": create_app},
        port=port,
        address=address,
        show=show,
        threaded=threaded,
        title="qfast dashboard",
        websocket_origin=[f"{address}:{port}", f"localhost:{port}"] if port else "*",
        verbose=False,
        **kwargs,
    )
