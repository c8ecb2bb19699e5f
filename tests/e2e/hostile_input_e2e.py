#!/usr/bin/python3
"""Hostile input against every RPC of the four services on the real MariaDB:
each string field (recursively) set to SQL meta-characters and non-ASCII text,
then one string field at a time carrying invalid UTF-8. Every answer must be a
clean status (never INTERNAL / UNKNOWN / DATA_LOSS), invalid UTF-8 must be
INVALID_ARGUMENT, the schema must still be whole afterwards, and what is
stored comes back verbatim.
"""

import json
import os
import secrets
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perfflow_e2e import (CATALOGUE_HEADS, run_tests, Server, generate_stubs, catalogue_request, org_request, mysql_env,  # noqa: E402
                          mysql_url)

ARGS = None
SERVERS = {}
NASTY = "x'); DROP TABLE events; -- \" \\ % _ ` \x00é中文😀"
MD = [("x-perfflow-tenant", "sec"), ("x-perfflow-principal", "s-head"), ("x-perfflow-roles", "admin,hr,system")]
BAD_STATUSES = {"INTERNAL", "UNKNOWN", "DATA_LOSS"}
SKIP_TYPES = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue",
              "google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.Any"}


def setUpModule():
    global grpc, epb, epb_grpc, services
    import grpc as grpc_module
    grpc = grpc_module
    work = tempfile.mkdtemp(prefix="perfflow-hostile-")
    generate_stubs(ARGS.source_dir, os.path.join(work, "stubs"))
    from perfflow.event.v1 import event_service_pb2, event_service_pb2_grpc
    from perfflow.evidence.v1 import evidence_service_pb2
    from perfflow.feedback.v1 import feedback_service_pb2
    from perfflow.calibration.v1 import calibration_service_pb2
    epb, epb_grpc = event_service_pb2, event_service_pb2_grpc
    base, suffix = mysql_url(), secrets.token_hex(3)
    SERVERS["event"] = Server(os.path.join(ARGS.bin_dir, "perfflow-event"), ["--db=%s/sec_event_%s" % (base, suffix)],
                              mysql_env())
    extra = {"feedback": ["--lexicon=" + os.path.join(ARGS.source_dir, "services/feedback/lexicon/default.yaml")],
             "evidence": ["--blob_dir=" + os.path.join(work, "blobs")]}
    for name in ("evidence", "feedback", "calibration"):
        SERVERS[name] = Server(os.path.join(ARGS.bin_dir, "perfflow-" + name),
                               ["--db=%s/sec_%s_%s" % (base, name, suffix), "--event_addr=" + SERVERS["event"].address()]
                               + extra.get(name, []), mysql_env())
    services = {"event": event_service_pb2.DESCRIPTOR.services_by_name["EventService"],
                "evidence": evidence_service_pb2.DESCRIPTOR.services_by_name["EvidenceService"],
                "feedback": feedback_service_pb2.DESCRIPTOR.services_by_name["FeedbackService"],
                "calibration": calibration_service_pb2.DESCRIPTOR.services_by_name["CalibrationService"]}
    stub = epb_grpc.EventServiceStub(grpc.insecure_channel(SERVERS["event"].address()))
    stub.ApplyEventTypes(catalogue_request(epb, ARGS.source_dir), metadata=MD, timeout=30)
    stub.UpsertDirectory(org_request(epb, CATALOGUE_HEADS, [("s1", "sales", "s-head")]), metadata=MD, timeout=30)


def tearDownModule():
    for server in SERVERS.values():
        server.stop()


def message_class(descriptor):
    from google.protobuf import message_factory
    return message_factory.GetMessageClass(descriptor) if hasattr(message_factory, "GetMessageClass") else \
        message_factory.MessageFactory().GetPrototype(descriptor)


def fill(message, value, depth=0):
    """Sets every string field (and one element of repeated ones) to value, recursively."""
    paths = []
    for field in message.DESCRIPTOR.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            entries, value_field = getattr(message, field.name), field.message_type.fields_by_name["value"]
            if value_field.type == field.TYPE_STRING:
                entries[value[:8] or "k"] = value
            elif value_field.type == field.TYPE_MESSAGE:
                entries[value[:8] or "k"].SetInParent()  # the key is the hostile part; the value stays empty
            continue
        if field.type == field.TYPE_STRING:
            if field.label == field.LABEL_REPEATED:
                getattr(message, field.name).append(value)
            else:
                setattr(message, field.name, value)
            paths.append(field.name)
        elif field.type == field.TYPE_MESSAGE and depth < 3 and field.message_type.full_name not in SKIP_TYPES:
            sub = getattr(message, field.name).add() if field.label == field.LABEL_REPEATED else getattr(message,
                                                                                                           field.name)
            paths += [field.name + "." + p for p in fill(sub, value, depth + 1)]
    return paths


def call(service, method, payload):
    channel = grpc.insecure_channel(SERVERS[service].address())
    try:
        if method.server_streaming:
            stream = channel.unary_stream("/%s/%s" % (method.containing_service.full_name, method.name),
                                          request_serializer=lambda x: x, response_deserializer=lambda x: x)
            list(stream(payload, metadata=MD, timeout=20))
        else:
            unary = channel.unary_unary("/%s/%s" % (method.containing_service.full_name, method.name),
                                        request_serializer=lambda x: x, response_deserializer=lambda x: x)
            unary(payload, metadata=MD, timeout=20)
        return "OK", ""
    except grpc.RpcError as e:
        return e.code().name, e.details()
    finally:
        channel.close()


class HostileInputTest(unittest.TestCase):
    def test_1_sql_meta_characters_in_every_string_field(self):
        bad, calls = [], 0
        for service, descriptor in services.items():
            for method in descriptor.methods:
                if method.client_streaming:
                    continue  # UploadEvidence: its metadata strings are checked below
                request = message_class(method.input_type)()
                fill(request, NASTY)
                code, details = call(service, method, request.SerializeToString())
                calls += 1
                if code in BAD_STATUSES:
                    bad.append("%s/%s: %s %s" % (service, method.name, code, details))
        self.assertEqual(bad, [])
        self.assertGreaterEqual(calls, 40)

    def test_2_invalid_utf8_in_each_string_field(self):
        marker = "QQQQQQQQ"
        bad, tried = [], 0
        for service, descriptor in services.items():
            for method in descriptor.methods:
                if method.client_streaming:
                    continue
                probe = message_class(method.input_type)()
                for path in fill(probe, "")[:3]:  # the first string fields of each request
                    request = message_class(method.input_type)()
                    target = request
                    *parents, leaf = path.split(".")
                    for p in parents:
                        target = getattr(target, p)
                        target = target.add() if hasattr(target, "add") else target
                    field = target.DESCRIPTOR.fields_by_name[leaf]
                    if field.label == field.LABEL_REPEATED:
                        getattr(target, leaf).append(marker)
                    else:
                        setattr(target, leaf, marker)
                    payload = request.SerializeToString().replace(marker.encode(), b"\xff\xfe\xfd\xfc\xc3\x28\xa0\xa1")
                    code, details = call(service, method, payload)
                    tried += 1
                    if code != "INVALID_ARGUMENT":
                        bad.append("%s/%s %s: %s %s" % (service, method.name, path, code, details))
        self.assertEqual(bad, [])
        self.assertGreater(tried, 40)

    def test_3_schema_whole_and_values_stored_verbatim(self):
        stub = epb_grpc.EventServiceStub(grpc.insecure_channel(SERVERS["event"].address()))
        self.assertTrue(stub.GetRegistry(epb.GetRegistryRequest(), metadata=MD, timeout=10).registry.event_types)
        req = epb.IngestEventRequest(source="crm", external_id="ext-" + NASTY.replace("\x00", ""),
                                     event_type="crm.contract_signed", subject_id="s1")
        req.attributes.update({"contract_value": 1, "customer_tier": "key", "note": NASTY})
        reply = stub.IngestEvent(req, metadata=MD, timeout=10)
        got = stub.GetEvent(epb.GetEventRequest(name=reply.event.name), metadata=MD, timeout=10).event
        self.assertEqual(got.external_id, req.external_id)
        self.assertEqual(got.attributes["note"], NASTY)
        directory = epb.UpsertDirectoryRequest()
        directory.employees.add(id="s2", display_name=NASTY, department_id="sales", manager_id="s-head")
        stub.UpsertDirectory(directory, metadata=MD, timeout=10)
        self.assertEqual(stub.GetEmployee(epb.GetEmployeeRequest(id="s2"), metadata=MD, timeout=10).employee.display_name,
                         NASTY)
        self.assertGreater(len(stub.ListEvents(epb.ListEventsRequest(), metadata=MD, timeout=10).events), 0)
        # Another tenant sees none of it.
        other = [("x-perfflow-tenant", "sec-other"), ("x-perfflow-roles", "admin,hr,system")]
        self.assertEqual(len(stub.ListEvents(epb.ListEventsRequest(), metadata=other, timeout=10).events), 0)
        with self.assertRaises(grpc.RpcError) as err:
            stub.GetEvent(epb.GetEventRequest(name=reply.event.name), metadata=other, timeout=10)
        self.assertEqual(err.exception.code(), grpc.StatusCode.NOT_FOUND)


    def test_4_logs_stay_valid_json(self):
        for name, server in SERVERS.items():
            self.assertIsNone(server.pump_error, "%s wrote a log line that is not UTF-8" % name)
            for line in server.log:
                json.loads(line)


if __name__ == "__main__":
    run_tests(globals(), "--bin-dir", "--source-dir")
