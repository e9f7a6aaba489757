from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from netatlas.db.engine import make_engine
from netatlas.db.migrate import current_revision, downgrade, head_revision, upgrade
from netatlas.features import load_models
from tests.conftest import PG_URL, _pg_url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_downgrade_upgrade(backend: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    extra = None
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    elif not PG_URL:
        pytest.skip("NETATLAS_TEST_DATABASE_URL not set")
    else:
        schema = f"m_{uuid.uuid4().hex[:10]}"
        admin = make_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(_pg_url(schema))
        extra = (admin, schema)
    try:
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        names = set(inspect(engine).get_table_names())
        for table in ("wifi_shard_0", "wifi_shard_f", "blue_shard_a", "cell_nr", "cell_lte"):
            assert table in names
        downgrade(engine)
        assert current_revision(engine) is None
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        # The migrations and the models describe the same schema.
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), load_models())
        assert diff == []
        with engine.connect() as conn:
            internal = conn.execute(text("SELECT schema FROM export_config")).scalars().all()
        assert sorted(internal) == ["file", "internal"]  # the default raw archive
    finally:
        engine.dispose()
        if extra is not None:
            admin, schema = extra
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
