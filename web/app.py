"""The qfast dashboard from a checkout: ``panel serve web/app.py`` (or ``python web/app.py`` to open it).

The app itself lives in the package (``qfast.dashboard``), so ``qfast serve`` runs the same page from a wheel.
"""

import panel as pn

from qfast.dashboard import create_app

pn.extension("filedropper")

if pn.state.served:
    create_app().servable(title="qfast dashboard")
elif __name__ == "__main__":
    pn.serve(create_app, show=True, title="qfast dashboard")
