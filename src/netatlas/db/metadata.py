"""The one MetaData object every feature's ``models.py`` adds its tables to."""

from __future__ import annotations

from sqlalchemy import MetaData

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


def load_all() -> MetaData:
    """Import every models module so that ``metadata`` knows all tables."""
    from netatlas.admin import models as _admin  # noqa: F401
    from netatlas.broadband import models as _broadband  # noqa: F401
    from netatlas.broadband.aggregate import models as _stats  # noqa: F401
    from netatlas.datamap import models as _datamap  # noqa: F401
    from netatlas.db import documents as _documents  # noqa: F401
    from netatlas.db import models as _db  # noqa: F401
    from netatlas.db import stats as _monitor  # noqa: F401
    from netatlas.export import models as _export  # noqa: F401
    from netatlas.http import ratelimit_models as _limits  # noqa: F401
    from netatlas.location import models as _location  # noqa: F401

    return metadata
