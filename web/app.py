"""The qfast dashboard from a checkout: ``panel serve web/app.py`` (or ``python web/app.py`` to open it).

The app itself lives in the package (``qfast.dashboard``), so ``qfast serve`` runs the same page from a wheel.
"""

import panel as pn

from qfast.dashboard import Dashboard

pn.extension("filedropper")

if pn.state.served:
    Dashboard(background=True).servable(title="qfast dashboard")
elif __name__ == "__main__":
    Dashboard(background=True).show(title="qfast dashboard")
