"""TableStore: list/get/create/update/delete of one table, the base of every simple store."""

import json
import logging

from orchestra.db import utcnow

logger = logging.getLogger(__name__)


class TableStore:
    """CRUD over one table. Subclasses name the table and its writable columns.

    Writes run inside one transaction on a worker thread (`_create`, `_update`, `_delete`
    take a Connection), so a subclass that also writes child rows keeps them consistent.
    Reads (`_list`, `_count`, `_get`: override those, not the coroutines, to add to a row)
    run on a read-only connection where the database has them.
    """

    table = None
    columns = ()            # writable columns, in insert order
    json_columns = ()       # stored as JSON text, returned decoded
    has_updated_at = True
    order_by = "id DESC"    # newest first

    def __init__(self, db):
        self.db = db

    # -- reads -----------------------------------------------------------------------------

    async def list(self, limit=50, offset=0, **filters):
        return await self.db.read(self._list, int(limit), int(offset), filters)

    async def count(self, **filters):
        return await self.db.read(self._count, filters)

    async def page(self, limit=50, offset=0, **filters):
        """(rows, total): a page of `list` and the `count` of all, in one trip to a worker
        thread (each trip costs the IOLoop about as much as the queries themselves)."""
        return await self.db.read(self._page, int(limit), int(offset), filters)

    def _list(self, conn, limit, offset, filters):
        where, args = self._where(filters)
        rows = conn.query("SELECT * FROM %s%s ORDER BY %s LIMIT %%s OFFSET %%s"
                          % (self.table, where, self.order_by), *args, limit, offset)
        return [self.decode(r) for r in rows]

    def _count(self, conn, filters):
        where, args = self._where(filters)
        return int(conn.get("SELECT COUNT(*) AS n FROM %s%s" % (self.table, where), *args).n)

    def _page(self, conn, limit, offset, filters):
        return self._list(conn, limit, offset, filters), self._count(conn, filters)

    async def get(self, id):
        return await self.db.read(self._get, id)

    def _get(self, conn, id):
        return self.decode(conn.get("SELECT * FROM %s WHERE id = %%s" % self.table, id))

    def _where(self, filters):
        filters = {k: v for k, v in filters.items() if v is not None}
        for name in filters:
            if name not in self.columns and name != "id":
                raise ValueError("cannot filter %s on %r" % (self.table, name))
        if not filters:
            return "", []
        return (" WHERE " + " AND ".join("%s = %%s" % k for k in filters), list(filters.values()))

    def decode(self, row):
        if row is None:
            return None
        for name in self.json_columns:
            if isinstance(row.get(name), str):
                row[name] = json.loads(row[name])
        return row

    def encode(self, data):
        data = dict(data)
        for name in self.json_columns:
            if name in data and not isinstance(data[name], str):
                data[name] = json.dumps(data[name])
        return data

    # -- writes ----------------------------------------------------------------------------

    async def create(self, data):
        """Insert a row from `data` (column -> value) and return it as stored."""
        return await self.db.run(self._create_tx, data)

    async def update(self, id, data):
        """Change the given columns; the updated row, or None when there is no such row."""
        return await self.db.run(self._update_tx, id, data)

    async def delete(self, id):
        return await self.db.run(self._delete_tx, id)

    def _create_tx(self, conn, data):
        with conn.transaction():
            id = self._create(conn, data)
            return self._get(conn, id)

    def _update_tx(self, conn, id, data):
        with conn.transaction():
            if conn.get("SELECT id FROM %s WHERE id = %%s" % self.table, id) is None:
                return None
            self._update(conn, id, data)
            return self._get(conn, id)

    def _delete_tx(self, conn, id):
        with conn.transaction():
            return self._delete(conn, id)

    def _create(self, conn, data):
        return self.insert(conn, self.table, self._row(data, creating=True))

    def _update(self, conn, id, data):
        values = self._row(data, creating=False)
        if values:
            self.update_row(conn, self.table, id, values)

    def _delete(self, conn, id):
        return conn.execute_rowcount("DELETE FROM %s WHERE id = %%s" % self.table, id) > 0

    def _row(self, data, creating):
        data = self.encode({k: v for k, v in data.items() if k in self.columns})
        now = utcnow()
        if creating:
            data["created_at"] = now
        if self.has_updated_at:
            data["updated_at"] = now
        return data

    @staticmethod
    def insert(conn, table, values):
        names = list(values)
        return conn.execute(
            "INSERT INTO %s (%s) VALUES (%s)"
            % (table, ", ".join(names), ", ".join(["%s"] * len(names))),
            *[values[n] for n in names])

    @staticmethod
    def update_row(conn, table, id, values):
        names = list(values)
        return conn.execute_rowcount(
            "UPDATE %s SET %s WHERE id = %%s" % (table, ", ".join("%s = %%s" % n for n in names)),
            *[values[n] for n in names], id)
