"""The swipe comparison: :class:`SwipeView`, a browser-side Panel component (the original left of a slider, the result
right of it)."""

from __future__ import annotations

import panel as pn
import param


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
