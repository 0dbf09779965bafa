"""The CQL type layer (contracts.md section 2): every CQL type's wire codec, validation,
byte-comparable encoding, literal conversion and naming, plus key encodings.

Public API (import from here; the submodules are implementation detail):
- `CQLType`, `CQLTypeError`, `parse_type`, `from_literal`, `to_cql_literal`;
- the native singletons (`INT`, `TEXT`, ...) and `NATIVE` (by CQL name);
- `ListType`, `SetType`, `MapType`, `TupleType`, `UserType`;
- key helpers: `encode_clustering`, `encode_clustering_prefix`, `decode_clustering`,
  `prefix_start`, `prefix_end`, `serialize_partition_key`, `split_partition_key`;
- `Date`, `Time`, `Duration` value classes; `COMPARABLE_FORMAT_VERSION`.

Must never import the driver, storage, raft, topology or scylla_py.
"""

from cql.types.base import COMPARABLE_FORMAT_VERSION, CQLType, CQLTypeError
from cql.types.collections import CollectionType, ListType, MapType, SetType, TupleType, UserType
from cql.types.keys import (
    decode_clustering,
    encode_clustering,
    encode_clustering_prefix,
    prefix_end,
    prefix_start,
    serialize_partition_key,
    split_partition_key,
)
from cql.types.literals import from_literal, parse_constant, to_cql_literal
from cql.types.native import (
    ASCII,
    BIGINT,
    BLOB,
    BOOLEAN,
    COUNTER,
    DATE,
    DECIMAL,
    DOUBLE,
    DURATION,
    FLOAT,
    INET,
    INT,
    NATIVE,
    SMALLINT,
    TEXT,
    TIME,
    TIMESTAMP,
    TIMEUUID,
    TINYINT,
    UUID,
    VARINT,
    NativeType,
)
from cql.types.parse import UDTLookup, UserTypeDefLike, parse_type
from cql.types.values import Date, Duration, Time

__all__ = [
    "ASCII", "BIGINT", "BLOB", "BOOLEAN", "COMPARABLE_FORMAT_VERSION", "COUNTER", "DATE", "DECIMAL",
    "DOUBLE", "DURATION", "FLOAT", "INET", "INT", "NATIVE", "SMALLINT", "TEXT", "TIME", "TIMESTAMP",
    "TIMEUUID", "TINYINT", "UUID", "VARINT", "CQLType", "CQLTypeError", "CollectionType", "Date",
    "Duration", "ListType", "MapType", "NativeType", "SetType", "Time", "TupleType", "UDTLookup",
    "UserType", "UserTypeDefLike", "decode_clustering", "encode_clustering",
    "encode_clustering_prefix", "from_literal", "parse_constant", "parse_type", "prefix_end",
    "prefix_start", "serialize_partition_key", "split_partition_key", "to_cql_literal",
]
