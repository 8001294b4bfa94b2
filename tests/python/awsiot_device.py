"""A device built on AWS's own IoT Device SDK v2 for Python, driving the sandbox.

Each subcommand runs one suite against a broker and exits 0 when every check passed, printing
`ok <check>` per check; a failed check raises with the expected and actual values. The Rust
tests in tests/tests/awsiotsdk.rs start the sandbox and run these suites.
"""

import argparse
import json
import sys
import threading
import uuid

from awscrt import mqtt, mqtt_request_response
from awsiot import (
    ServiceStreamOptions,
    V2ServiceException,
    iotidentity,
    iotjobs,
    iotshadow,
    mqtt_connection_builder,
)

TIMEOUT_S = 20


def ok(check):
    print(f"ok {check}", flush=True)


def expect(check, actual, expected):
    if actual != expected:
        raise AssertionError(f"{check}: expected {expected!r}, got {actual!r}")
    ok(check)


def connect(args, cert, key, client_id):
    connection = mqtt_connection_builder.mtls_from_path(
        endpoint=args.host,
        port=args.port,
        cert_filepath=cert,
        pri_key_filepath=key,
        ca_filepath=args.ca,
        client_id=client_id,
        clean_session=True,
        keep_alive_secs=30,
    )
    connection.connect().result(TIMEOUT_S)
    return connection


def request_response_options():
    return mqtt_request_response.ClientOptions(
        max_request_response_subscriptions=4,
        max_streaming_subscriptions=4,
        operation_timeout_in_seconds=TIMEOUT_S,
    )


def rejected(check, future, code):
    """The request must be rejected with the given error code."""
    try:
        future.result(TIMEOUT_S)
    except V2ServiceException as error:
        got = getattr(error.modeled_error, "code", None) or getattr(error.modeled_error, "status_code", None)
        expect(check, got, code)
        return error.modeled_error
    raise AssertionError(f"{check}: expected a rejection with {code}, the request was accepted")


def shadow_suite(args):
    thing = args.thing
    connection = connect(args, args.cert, args.key, thing)
    shadow = iotshadow.IotShadowClientV2(connection, request_response_options())

    deltas = []
    delta_seen = threading.Event()

    def on_delta(event):
        deltas.append(event)
        delta_seen.set()

    stream = shadow.create_shadow_delta_updated_stream(
        iotshadow.ShadowDeltaUpdatedSubscriptionRequest(thing_name=thing),
        ServiceStreamOptions(incoming_event_listener=on_delta),
    )
    stream.open()

    error = rejected("get of a missing shadow is 404", shadow.get_shadow(iotshadow.GetShadowRequest(thing_name=thing)), 404)
    expect("404 names the shadow", error.message, f"No shadow exists with name: '{thing}'")

    first = shadow.update_shadow(
        iotshadow.UpdateShadowRequest(thing_name=thing, state=iotshadow.ShadowState(desired={"color": "red", "power": True}))
    ).result(TIMEOUT_S)
    expect("first update creates version 1", first.version, 1)
    expect("update/accepted echoes the desired state", first.state.desired, {"color": "red", "power": True})

    if not delta_seen.wait(TIMEOUT_S):
        raise AssertionError("a delta event should follow an update that leaves desired out of sync")
    expect("the delta lists every out-of-sync key", deltas[-1].state, {"color": "red", "power": True})

    second = shadow.update_shadow(
        iotshadow.UpdateShadowRequest(thing_name=thing, state=iotshadow.ShadowState(reported={"color": "blue", "power": True}))
    ).result(TIMEOUT_S)
    expect("each accepted update adds one to the version", second.version, 2)

    got = shadow.get_shadow(iotshadow.GetShadowRequest(thing_name=thing)).result(TIMEOUT_S)
    expect("get returns desired", got.state.desired, {"color": "red", "power": True})
    expect("get returns reported", got.state.reported, {"color": "blue", "power": True})
    expect("get includes the delta over desired only", got.state.delta, {"color": "red"})
    expect("get returns the version", got.version, 2)
    if not isinstance(got.metadata.desired["color"]["timestamp"], int):
        raise AssertionError(f"metadata must carry per-leaf epoch-second timestamps, got {got.metadata.desired!r}")
    ok("metadata carries per-leaf timestamps")

    rejected(
        "an update with a stale version is a 409",
        shadow.update_shadow(
            iotshadow.UpdateShadowRequest(thing_name=thing, version=1, state=iotshadow.ShadowState(desired={"color": "green"}))
        ),
        409,
    )

    cleared = shadow.update_shadow(
        iotshadow.UpdateShadowRequest(
            thing_name=thing,
            state=iotshadow.ShadowState(reported={"color": "red"}, desired=None, desired_is_nullable=True),
        )
    ).result(TIMEOUT_S)
    expect("reporting and clearing desired is accepted", cleared.version, 3)
    after = shadow.get_shadow(iotshadow.GetShadowRequest(thing_name=thing)).result(TIMEOUT_S)
    expect("desired: null removes the desired section", after.state.desired, None)
    expect("no delta once desired is cleared", after.state.delta, None)

    big = {"blob": "x" * 9000}
    rejected(
        "a document over 8 KB is a 413",
        shadow.update_shadow(iotshadow.UpdateShadowRequest(thing_name=thing, state=iotshadow.ShadowState(reported=big))),
        413,
    )

    named = shadow.update_named_shadow(
        iotshadow.UpdateNamedShadowRequest(
            thing_name=thing, shadow_name="config", state=iotshadow.ShadowState(reported={"interval_s": 30})
        )
    ).result(TIMEOUT_S)
    expect("a named shadow has its own version", named.version, 1)
    got_named = shadow.get_named_shadow(
        iotshadow.GetNamedShadowRequest(thing_name=thing, shadow_name="config")
    ).result(TIMEOUT_S)
    expect("a named shadow reads back", got_named.state.reported, {"interval_s": 30})
    deleted_named = shadow.delete_named_shadow(
        iotshadow.DeleteNamedShadowRequest(thing_name=thing, shadow_name="config")
    ).result(TIMEOUT_S)
    expect("deleting a named shadow reports its last version", deleted_named.version, 1)

    deleted = shadow.delete_shadow(iotshadow.DeleteShadowRequest(thing_name=thing)).result(TIMEOUT_S)
    expect("delete reports the last version", deleted.version, 3)
    rejected("a deleted shadow is gone", shadow.get_shadow(iotshadow.GetShadowRequest(thing_name=thing)), 404)

    recreated = shadow.update_shadow(
        iotshadow.UpdateShadowRequest(thing_name=thing, state=iotshadow.ShadowState(reported={"color": "red"}))
    ).result(TIMEOUT_S)
    expect("a re-created shadow continues from the deleted version", recreated.version, 4)

    del stream  # the SDK ends a stream when it is released
    connection.disconnect().result(TIMEOUT_S)


def jobs_suite(args):
    thing = args.thing
    connection = connect(args, args.cert, args.key, thing)
    jobs = iotjobs.IotJobsClientV2(connection, request_response_options())

    pending = jobs.get_pending_job_executions(
        iotjobs.GetPendingJobExecutionsRequest(thing_name=thing)
    ).result(TIMEOUT_S)
    expect("the created job is queued", [job.job_id for job in pending.queued_jobs], [args.job])
    expect("nothing is in progress yet", pending.in_progress_jobs, [])

    started = jobs.start_next_pending_job_execution(
        iotjobs.StartNextPendingJobExecutionRequest(thing_name=thing, status_details={"step": "download"})
    ).result(TIMEOUT_S)
    expect("start-next takes the queued job", started.execution.job_id, args.job)
    expect("start-next moves it to IN_PROGRESS", started.execution.status, "IN_PROGRESS")
    expect("the job document arrives", started.execution.job_document, json.loads(args.document))

    version = started.execution.version_number
    updated = jobs.update_job_execution(
        iotjobs.UpdateJobExecutionRequest(
            thing_name=thing, job_id=args.job, status="SUCCEEDED", expected_version=version,
            status_details={"result": "installed"},
        )
    ).result(TIMEOUT_S)
    expect("the update is accepted", updated.execution_state.status if updated.execution_state else "SUCCEEDED", "SUCCEEDED")

    rejected(
        "a terminal execution cannot change again",
        jobs.update_job_execution(
            iotjobs.UpdateJobExecutionRequest(thing_name=thing, job_id=args.job, status="IN_PROGRESS")
        ),
        "InvalidStateTransition",
    )

    done = jobs.get_pending_job_executions(iotjobs.GetPendingJobExecutionsRequest(thing_name=thing)).result(TIMEOUT_S)
    expect("no job is pending afterwards", (done.queued_jobs, done.in_progress_jobs), ([], []))
    connection.disconnect().result(TIMEOUT_S)


def provision_suite(args):
    """Fleet provisioning with a claim certificate, then an mTLS connection as the new thing."""
    client_id = f"claim-{uuid.uuid4().hex[:12]}"
    connection = connect(args, args.cert, args.key, client_id)
    identity = iotidentity.IotIdentityClientV2(connection, request_response_options())

    if args.csr:
        with open(args.csr) as csr_file:
            csr = csr_file.read()
        created = identity.create_certificate_from_csr(
            iotidentity.CreateCertificateFromCsrRequest(certificate_signing_request=csr)
        ).result(TIMEOUT_S)
        private_key = None
    else:
        created = identity.create_keys_and_certificate(iotidentity.CreateKeysAndCertificateRequest()).result(TIMEOUT_S)
        private_key = created.private_key
        if "PRIVATE KEY" not in private_key:
            raise AssertionError("CreateKeysAndCertificate must return a PEM private key")
    if len(created.certificate_id) != 64:
        raise AssertionError(f"certificateId must be 64 hex characters, got {created.certificate_id!r}")
    ok("a certificate is issued with a 64-character id")

    registered = identity.register_thing(
        iotidentity.RegisterThingRequest(
            template_name=args.template,
            certificate_ownership_token=created.certificate_ownership_token,
            parameters={"SerialNumber": args.serial, "Model": "plug"},
        )
    ).result(TIMEOUT_S)
    expect("RegisterThing names the thing from the template", registered.thing_name, args.expect_thing)

    rejected(
        "an ownership token is used once",
        identity.register_thing(
            iotidentity.RegisterThingRequest(
                template_name=args.template,
                certificate_ownership_token=created.certificate_ownership_token,
                parameters={"SerialNumber": args.serial, "Model": "plug"},
            )
        ),
        400,
    )
    connection.disconnect().result(TIMEOUT_S)

    cert_path = args.out + ".cert.pem"
    with open(cert_path, "w") as out:
        out.write(created.certificate_pem)
    key_path = args.key_for_csr
    if private_key is not None:
        key_path = args.out + ".key.pem"
        with open(key_path, "w") as out:
            out.write(private_key)
    device = connect(args, cert_path, key_path, registered.thing_name)
    ok("the issued certificate connects over mutual TLS")
    shadow = iotshadow.IotShadowClientV2(device, request_response_options())
    first = shadow.update_shadow(
        iotshadow.UpdateShadowRequest(thing_name=registered.thing_name, state=iotshadow.ShadowState(reported={"online": True}))
    ).result(TIMEOUT_S)
    expect("the new thing can report to its shadow", first.version, 1)
    device.disconnect().result(TIMEOUT_S)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("suite", choices=["shadow", "jobs", "provision"])
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--thing", default="sdk-device")
    parser.add_argument("--job")
    parser.add_argument("--document")
    parser.add_argument("--template", default="companion-default")
    parser.add_argument("--serial", default="SN-0001")
    parser.add_argument("--expect-thing")
    parser.add_argument("--csr", help="a CSR to send instead of asking for a key pair")
    parser.add_argument("--key-for-csr", help="the private key that belongs to --csr")
    parser.add_argument("--out", help="path prefix for the issued certificate and key")
    args = parser.parse_args()
    {"shadow": shadow_suite, "jobs": jobs_suite, "provision": provision_suite}[args.suite](args)
    print("all checks passed", flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # the Rust test shows this text as the failure
        print(f"FAILED: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        sys.exit(1)
