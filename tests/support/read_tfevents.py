#!/usr/bin/env python3
"""An independent reader of TensorBoard event files, for tests: checks every record's framing
and masked CRC-32C, decodes tensorflow.Event (wall_time, step, file_version, summary scalars,
session_log) from the protobuf wire format, and prints one JSON object:
{"file_version": ..., "scalars": {tag: [[step, value], ...]}, "starts": [step, ...]}.
Exits 1 naming the record and the problem on any damage. Written from the TFRecord and
event.proto specifications, sharing no code with meshtrain."""
import json
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def fields(buf):
    """Yields (field number, wire type, value) of a protobuf message."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wire)
        yield number, wire, value


def varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def main(path):
    data = open(path, "rb").read()
    out = {"file_version": None, "scalars": {}, "starts": []}
    pos, record = 0, 0
    while pos < len(data):
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if masked(header) != length_crc:
            sys.exit("record %d: length CRC mismatch" % record)
        event = data[pos + 12:pos + 12 + length]
        (data_crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        if masked(event) != data_crc:
            sys.exit("record %d: data CRC mismatch" % record)
        step = 0
        for number, _, value in fields(event):
            if number == 2:
                step = value
        for number, _, value in fields(event):
            if number == 3:
                out["file_version"] = value.decode()
            elif number == 5:
                for vnum, _, v in fields(value):
                    if vnum != 1:
                        continue
                    tag, simple = None, None
                    for f, _, x in fields(v):
                        if f == 1:
                            tag = x.decode()
                        elif f == 2:
                            (simple,) = struct.unpack("<f", x)
                    out["scalars"].setdefault(tag, []).append([step, simple])
            elif number == 6:
                for f, _, x in fields(value):
                    if f == 1 and x == 1:
                        out["starts"].append(step)
        pos += 16 + length
        record += 1
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
