"""The dashboard's page: :class:`Page`, the layout, the views built lazily per tab, and the download buttons."""

from __future__ import annotations

import asyncio
import io
from functools import partial
from typing import Any

import panel as pn
import param

from . import views
from .exports import data_uri
from .pictures import sample_pixels, scatter3d
from .settings import FEATURES, FeatureUnavailable

_METHOD_LABELS = {"uniform": "uniform", "lloyd-max": "Lloyd-Max", "mu-law": "mu-law", "palette": "k-means palette"}
_UNAVAILABLE = "not available in this build of qfast"


class Page:
    """The dashboard's page: the controls, the tabs and their views, built from a :class:`~qfast.dashboard.state.State`.

    A plain mixin: :class:`~qfast.dashboard.app.Dashboard` puts it before the state class, whose parameters the
    ``param.depends`` declarations here name (the views follow them; nothing here watches).
    """

    def _download(self, kind: str, label: str) -> pn.widgets.FileDownload:
        widget = pn.widgets.FileDownload(
            label=label, filename=f"qfast.{kind}", sizing_mode="stretch_width", css_classes=[f"qf-dl-{kind}"]
        )

        def callback() -> io.BytesIO:
            try:
                name, data = self.export(kind)
            except (ValueError, FeatureUnavailable) as e:
                # The page says why; the browser, which asked for a file, gets a short text file saying the same
                # (a download callback must return a file: returning nothing is a server error).
                self.message = f"export: {e}"
                widget.filename = f"{self._stem()}-{kind}-not-exported.txt"
                return io.BytesIO(f"qfast could not export this result as {kind}: {e}\n".encode())
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
        dots = self._cached(("pixels", self._token()), lambda: sample_pixels(self.image))
        scatter = scatter3d(dots, r.palette, azimuth=self.azimuth)
        return pn.Column(
            pn.pane.HTML(views.swatches(r.palette)),
            pn.pane.HTML(f"<img alt='colour scatter' src='{data_uri(scatter)}'>"),
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
        # Messages and notes hold what users control (file names, a file's own error text): they are shown as
        # escaped text in an HTML pane, never through Markdown, which would render HTML inside them.
        msg = pn.pane.HTML(
            pn.bind(views.alert, self.param.message, "danger"),
            visible=self.param.message.rx() != "",
            css_classes=["qf-message"],
            sizing_mode="stretch_width",
        )
        note = pn.pane.HTML(
            pn.bind(views.alert, self.param.note, "info"),
            visible=self.param.note.rx() != "",
            css_classes=["qf-note-pane"],
            sizing_mode="stretch_width",
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
                    pn.Column(
                        lazy(self._palette_view),
                        pn.widgets.IntSlider.from_param(self.param.azimuth),
                    ),
                    self._explain("palette"),
                ),
            ),
            ("Rate-distortion", pn.Row(lazy(self._rd_view), self._explain("rd"))),
            (
                "Codec",
                pn.Row(pn.Column(codec_controls, lazy(self._codec_view)), self._explain("codec")),
            ),
            (
                "Model quantization",
                pn.Row(lazy(self._corrector_view), self._explain("corrector", 360)),
            ),
            dynamic=True,
            sizing_mode="stretch_width",
            css_classes=["qf-tabs"],
        )
        return pn.Column(
            header, msg, note, pn.Row(self._controls(), tabs, sizing_mode="stretch_width"), sizing_mode="stretch_width"
        )
