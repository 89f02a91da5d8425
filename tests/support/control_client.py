#!/usr/bin/env python3
"""Calls meshtrain's Control gRPC service with Python grpcio: a client that is not ours.

usage: control_client.py STUBS_DIR ADDRESS TOKEN MODEL
STUBS_DIR holds meshtrain/v1/control_pb2.py and control_pb2_grpc.py (protoc --python_out
--grpc_python_out). Prints one JSON object with what it saw; exits 1 on any surprise.
"""
import json
import sys

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
from meshtrain.v1 import control_pb2 as pb  # noqa: E402
from meshtrain.v1 import control_pb2_grpc as pb_grpc  # noqa: E402


def main():
    address, token, model = sys.argv[2], sys.argv[3], sys.argv[4]
    auth = [("authorization", "Bearer " + token)]
    stub = pb_grpc.ControlStub(grpc.insecure_channel(address))
    out = {}
    try:
        stub.ListModels(pb.ListModelsRequest(), timeout=10)
        out["without_token"] = "OK"
    except grpc.RpcError as e:
        out["without_token"] = e.code().name
    out["models"] = list(stub.ListModels(pb.ListModelsRequest(), metadata=auth, timeout=10).models)
    versions = stub.ListVersions(pb.ListVersionsRequest(model=model), metadata=auth, timeout=10)
    out["versions"] = [
        {"version": v.version, "aliases": list(v.aliases), "metrics": dict(v.metrics)}
        for v in versions.versions
    ]
    prod = stub.GetVersion(pb.GetVersionRequest(ref=model + "@production"), metadata=auth,
                           timeout=10)
    out["production"] = prod.version
    registered = stub.RegisterVersion(
        pb.RegisterVersionRequest(version=pb.ModelVersion(
            model=model, checkpoint_uri="file:///py/ck", checkpoint_version=1,
            metrics={"eval_loss": 0.5}, parent=prod.version)),
        metadata=auth, timeout=10)
    out["registered"] = registered.version
    decision = stub.EvaluateVersion(
        pb.EvaluateVersionRequest(model=model, version=registered.version,
                                  policy=pb.Policy(metric="eval_loss", mode="min",
                                                   min_improvement=0.1)),
        metadata=auth, timeout=10)
    out["decision"] = decision.outcome
    try:
        stub.Promote(pb.PromoteRequest(model=model, version=99), metadata=auth, timeout=10)
        out["promote_unknown"] = "OK"
    except grpc.RpcError as e:
        out["promote_unknown"] = e.code().name
        out["promote_unknown_detail"] = e.details()
    accepted = stub.ReportMetrics(
        pb.ReportMetricsRequest(job_id="py-job", model=model, points=[
            pb.MetricPoint(step=1, name="loss", value=2.5),
            pb.MetricPoint(step=1, name="lr", value=0.01),
            pb.MetricPoint(step=2, name="loss", value=2.25)]),
        metadata=auth, timeout=10)
    out["accepted"] = accepted.accepted
    verify = stub.VerifyAudit(pb.VerifyAuditRequest(), metadata=auth, timeout=10)
    out["audit_ok"] = verify.ok
    out["audit_records"] = verify.records
    print(json.dumps(out))


if __name__ == "__main__":
    main()
