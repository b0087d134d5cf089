"""The few messages of Prometheus' remote-write protocol (``prompb/types.proto``, ``remote.proto``).

Built at import with protobuf's descriptor API, so installing k6host needs no
protoc and no generated module: field numbers and types are those of
prometheus/prompb (WriteRequest, TimeSeries, Label, Sample, Histogram,
BucketSpan), which every remote-write receiver decodes.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_MESSAGES = {
    # name: [(field, number, type, label, message type or None, oneof index or None)]
    "Label": [("name", 1, _F.TYPE_STRING, _F.LABEL_OPTIONAL, None, None),
              ("value", 2, _F.TYPE_STRING, _F.LABEL_OPTIONAL, None, None)],
    "Sample": [("value", 1, _F.TYPE_DOUBLE, _F.LABEL_OPTIONAL, None, None),
               ("timestamp", 2, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None, None)],
    "BucketSpan": [("offset", 1, _F.TYPE_SINT32, _F.LABEL_OPTIONAL, None, None),
                   ("length", 2, _F.TYPE_UINT32, _F.LABEL_OPTIONAL, None, None)],
    "Histogram": [
        ("count_int", 1, _F.TYPE_UINT64, _F.LABEL_OPTIONAL, None, 0),
        ("count_float", 2, _F.TYPE_DOUBLE, _F.LABEL_OPTIONAL, None, 0),
        ("sum", 3, _F.TYPE_DOUBLE, _F.LABEL_OPTIONAL, None, None),
        ("schema", 4, _F.TYPE_SINT32, _F.LABEL_OPTIONAL, None, None),
        ("zero_threshold", 5, _F.TYPE_DOUBLE, _F.LABEL_OPTIONAL, None, None),
        ("zero_count_int", 6, _F.TYPE_UINT64, _F.LABEL_OPTIONAL, None, 1),
        ("zero_count_float", 7, _F.TYPE_DOUBLE, _F.LABEL_OPTIONAL, None, 1),
        ("negative_spans", 8, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "BucketSpan", None),
        ("negative_deltas", 9, _F.TYPE_SINT64, _F.LABEL_REPEATED, None, None),
        ("negative_counts", 10, _F.TYPE_DOUBLE, _F.LABEL_REPEATED, None, None),
        ("positive_spans", 11, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "BucketSpan", None),
        ("positive_deltas", 12, _F.TYPE_SINT64, _F.LABEL_REPEATED, None, None),
        ("positive_counts", 13, _F.TYPE_DOUBLE, _F.LABEL_REPEATED, None, None),
        ("reset_hint", 14, _F.TYPE_INT32, _F.LABEL_OPTIONAL, None, None),  # an enum on the wire is a varint
        ("timestamp", 15, _F.TYPE_INT64, _F.LABEL_OPTIONAL, None, None),
    ],
    "TimeSeries": [("labels", 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "Label", None),
                   ("samples", 2, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "Sample", None),
                   ("histograms", 4, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "Histogram", None)],
    "WriteRequest": [("timeseries", 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "TimeSeries", None)],
}
_ONEOFS = {"Histogram": ["count", "zero_count"]}


def _build() -> dict[str, type]:
    file = descriptor_pb2.FileDescriptorProto(name="k6host/prometheus_remote.proto", package="prometheus",
                                              syntax="proto3")
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for oneof in _ONEOFS.get(name, []):
            message.oneof_decl.add(name=oneof)
        for field_name, number, kind, label, type_name, oneof in fields:
            field = message.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = f".prometheus.{type_name}"
            if oneof is not None:
                field.oneof_index = oneof
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"prometheus.{name}"))
            for name in _MESSAGES}


_CLASSES = _build()
WriteRequest = _CLASSES["WriteRequest"]
TimeSeries = _CLASSES["TimeSeries"]
Histogram = _CLASSES["Histogram"]
