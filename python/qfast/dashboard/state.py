"""The dashboard's state and computation: :class:`State`, a ``param`` class holding the controls as parameters.

It calls only qfast's public API (through the computation modules: :mod:`~qfast.dashboard.quantization`,
:mod:`~qfast.dashboard.pictures`, :mod:`~qfast.dashboard.exports` and the others), so unit tests drive it by setting
parameters, with no browser. In a server, each change of a control starts one computation in a worker thread;
changes that arrive meanwhile collapse into one follow-up (latest wins), so quick clicks never pile up stale work, and
results are cached by (image, settings). The page is :class:`~qfast.dashboard.layout.Page`;
:class:`~qfast.dashboard.app.Dashboard` joins the two.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Callable

import cachetools
import numpy as np
import panel as pn
import param

import qfast

from . import views
from .charts import histogram_chart
from .codec import codec_roundtrip, corrector_comparison
from .exports import data_uri, export_bytes, ladder_gif, to_pil
from .pictures import histograms
from .quantization import ladder_settings, quantize, ssim_or_nan
from .rate_distortion import rate_distortion
from .settings import (
    COLOR_SPACES,
    CORRECTORS,
    DITHERS,
    FEATURES,
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    PALETTE_SIZES,
    RECONSTRUCTIONS,
    FeatureUnavailable,
    Result,
    Settings,
    UploadError,
    require,
)
from .swipe import SwipeView
from .upload import load_upload

MAX_UPLOADS = 4

#: Images with a longer side are reduced to this for the dashboard (the note says so), to keep it interactive.
MAX_SIDE = 2048


class State(pn.viewable.Viewer):
    """The dashboard's state: the controls as parameters, the loaded images, and the results computed from them.

    :class:`~qfast.dashboard.app.Dashboard` adds the page (:class:`~qfast.dashboard.layout.Page`) to it. The
    persistent panes the page shows (``_swipe``, ``_metrics``, ``_heat``, ``_hist``) are made here, because each new
    result updates them in place.
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
        default="midpoint", objects=list(RECONSTRUCTIONS), doc="Uniform: bin middles or 0..255 end to end."
    )
    k = param.Selector(default=16, objects=list(PALETTE_SIZES), label="Palette size K", doc="Palette size K.")
    dither = param.Selector(default="none", objects=list(DITHERS), label="Dithering", doc="Palette dithering.")
    color_space = param.Selector(
        default="rgb", objects=list(COLOR_SPACES), label="Colour space", doc="Palette clustering space."
    )
    corrector = param.Selector(
        default="off",
        objects=list(CORRECTORS),
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
    result = param.Parameter(default=None, doc="The current :class:`~qfast.dashboard.settings.Result`.")
    revision = param.Integer(default=0, doc="Counts applied results; views that follow the result watch it.")

    def __init__(
        self,
        *,
        background: bool = False,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        max_pixels: int = MAX_PIXELS,
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
        # Results by (image, settings): a result with its pictures is a few MB, so a page keeps the 32 most
        # recently used (cachetools' LRU; the lock because the page's worker threads share it).
        self._cache: cachetools.LRUCache = cachetools.LRUCache(maxsize=32)
        self._cache_lock = threading.Lock()
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
            img = np.asarray(to_pil(img).resize(size, Image.Resampling.LANCZOS))
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
            img, note = load_upload(filename, data, max_bytes=self.max_upload_bytes, max_pixels=self.max_pixels)
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
                lambda: load_upload(filename, data, max_bytes=self.max_upload_bytes, max_pixels=self.max_pixels),
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

    def _cached(self, key: Any, make: Callable[[], Any]) -> Any:
        """The cached value for ``key``, made (outside the lock, so threads do not wait on each other) if missing."""
        with self._cache_lock:
            if key in self._cache:
                return self._cache[key]
        value = make()
        self._store(key, value)
        return value

    def _store(self, key: Any, value: Any) -> None:
        with self._cache_lock:
            self._cache[key] = value

    def _result(self, token: int, img: np.ndarray, s: Settings, *, with_ssim: bool = True) -> Result:
        return self._cached(("result", token, s, with_ssim), lambda: quantize(img, s, with_ssim=with_ssim))

    def _original_uri(self, token: int, img: np.ndarray) -> str:
        return self._cached(("uri", token), lambda: data_uri(img))

    def _compute_main(self, token: int, img: np.ndarray, s: Settings, *, defer_ssim: bool = False) -> dict[str, Any]:
        """Everything the Compare and Error tabs show, as HTML, computed off the page's thread.

        With ``defer_ssim``, a result not seen before comes back before its SSIM is known: ``out["ssim"]`` is then
        the pending future, and :meth:`_finish` completes (and caches) it.
        """
        key = ("main", token, s)
        with self._cache_lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        ssim = None
        if ("result", token, s, True) in self._cache:
            r = self._result(token, img, s)
        else:
            # SSIM is the slowest step: run it beside the picture encodings (both release the GIL).
            r = quantize(img, s, with_ssim=False)
            ssim = self._side.submit(ssim_or_nan, img, r.image)
        heat_future = self._side.submit(views.heat_map, img, r)
        after = data_uri(r.image)
        hist = histogram_chart(self._hist_of(token, img), histograms(r.image))
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
        self._store(key, out)
        return out

    def _finish(self, token: int, img: np.ndarray, s: Settings, out: dict[str, Any]) -> dict[str, Any]:
        """Waits for a pending SSIM, completes the metrics and caches the result."""
        r = out["result"]
        r.ssim = out.pop("ssim").result()
        out["metrics"] = views.metrics_table(img, r)
        self._store(("result", token, s, True), r)
        self._store(("main", token, s), out)
        return out

    def _hist_of(self, token: int, img: np.ndarray) -> np.ndarray:
        return self._cached(("hist", token), lambda: histograms(img))

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
        return [self._result(token, img, t) for t in ladder_settings(s)]

    def rd_curves(self) -> dict[str, list[tuple[float, float, str]]]:
        """Rate-distortion curves of the current image (qfast's modes, JPEG, WebP)."""
        token, img = self._token(), self.image
        return self._cached(("rd", token), lambda: rate_distortion(img))

    def codec_result(self) -> dict[str, Any]:
        """The codec round trip with the current codec settings. Raises FeatureUnavailable without the codec."""
        require("codec")
        token, img = self._token(), self.image
        kw = {"max_error": self.max_error} if self.codec_mode == "bounded" else {"levels": self.codec_levels}
        return self._cached(("codec", token, tuple(kw.items())), lambda: codec_roundtrip(img, **kw))

    def corrector_result(self) -> dict[str, Any]:
        """fp32 against int8 corrector on the uniform mid-bin result at the current level count."""
        require("corrector")
        token, img, L = self._token(), self.image, self.settings().level_count
        return self._cached(("corrector", token, L), lambda: corrector_comparison(img, L))

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
            return self._stem() + ("-indexed" if kind == "indexed-png" else "") + ext, export_bytes(r, kind)
        if kind == "qfz":
            return self._stem() + ".qfz", self.codec_result()["data"]
        if kind == "ladder-gif":
            return self._stem() + "-ladder.gif", ladder_gif(self.image, self.ladder_results())
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
