"""The Azure authentication layer: which credential and endpoints the module arguments, AZURE_* variables and
profiles give, with no request (the requests themselves run in tests/integration/test_defender_for_cloud.py)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import azure_auth, azure_errors

SUB = "20ff7fc3-e762-44dd-bd96-b71116dcdc23"
SP = {"subscription_id": SUB, "client_id": "cid", "secret": "s3cret-value", "tenant": "tid"}


def params(**kw):
    base = {k: v.get("default") for k, v in azure_auth.AZURE_AUTH_ARGSPEC.items()}
    base.update(kw)
    return base


def home(tmp_path, monkeypatch, credentials=None, profile=None):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".azure").mkdir(exist_ok=True)
    if credentials is not None:
        (tmp_path / ".azure" / "credentials").write_text(credentials)
    if profile is not None:
        (tmp_path / ".azure" / "azureProfile.json").write_text("\ufeff" + json.dumps(profile))
    return {"HOME": str(tmp_path)}


def test_public_cloud_defaults():
    auth = azure_auth.resolve(params(**SP), env={})
    assert auth["auth_source"] == "credential"
    assert (auth["authority"], auth["arm_endpoint"], auth["credential_scope"]) == (
        "https://login.microsoftonline.com", "https://management.azure.com", "https://management.azure.com/.default")
    assert auth["connection_verify"] is True and auth["retries"] == 4


def test_us_government_endpoints_and_scope():
    auth = azure_auth.resolve(params(cloud_environment="AzureUSGovernment", **SP), env={})
    assert (auth["authority"], auth["arm_endpoint"], auth["credential_scope"]) == (
        "https://login.microsoftonline.us", "https://management.usgovcloudapi.net",
        "https://management.usgovcloudapi.net/.default")


def test_overrides_keep_the_cloud_scope_and_must_be_https():
    auth = azure_auth.resolve(params(cloud_environment="AzureUSGovernment", authority="https://aad.example/",
                                     arm_endpoint="https://arm.example", ca_bundle="/ca.pem", **SP), env={})
    assert (auth["authority"], auth["arm_endpoint"]) == ("https://aad.example", "https://arm.example")
    assert auth["credential_scope"] == "https://management.usgovcloudapi.net/.default"
    assert auth["connection_verify"] == "/ca.pem"
    with pytest.raises(azure_auth.AzureAuthError, match="arm_endpoint must be an https:// URL"):
        azure_auth.resolve(params(arm_endpoint="http://arm.example", **SP), env={})


@pytest.mark.parametrize("where", ["argument", "environment", "profile"])
def test_azure_china_is_refused_with_r74(where, tmp_path, monkeypatch):
    env = {}
    if where == "argument":
        args = params(cloud_environment="AzureChinaCloud", **SP)
    elif where == "environment":
        args = params(auth_source="env")
        env = {"AZURE_CLOUD_ENVIRONMENT": "AzureChinaCloud", "AZURE_SUBSCRIPTION_ID": SUB, "AZURE_CLIENT_ID": "c",
               "AZURE_SECRET": "s", "AZURE_TENANT": "t"}
    else:
        env = home(tmp_path, monkeypatch, "[default]\nsubscription_id={0}\nclient_id=c\nsecret=s\ntenant=t\n"
                   "cloud_environment=AzureChinaCloud\n".format(SUB))
        args = params(auth_source="credential_file")
    with pytest.raises(azure_auth.AzureAuthError, match=r"not in Azure China \(R-74\); no request was sent"):
        azure_auth.resolve(args, env=env)


def test_auto_order(tmp_path, monkeypatch):
    env = home(tmp_path, monkeypatch, profile={"subscriptions": [{"id": "other", "isDefault": False},
                                                                 {"id": SUB, "isDefault": True}]})
    assert azure_auth.resolve(params(**SP), env=env)["auth_source"] == "credential"
    with_env = dict(env, AZURE_CLIENT_ID="c", AZURE_SECRET="s", AZURE_TENANT="t", AZURE_SUBSCRIPTION_ID=SUB)
    assert azure_auth.resolve(params(), env=with_env)["auth_source"] == "env"
    cli = azure_auth.resolve(params(), env=env)
    assert cli["auth_source"] == "cli" and cli["subscription_id"] == SUB and cli["secret"] is None
    (tmp_path / ".azure" / "credentials").write_text(
        "[default]\nsubscription_id={0}\nclient_id=c\nsecret=s\ntenant=t\n".format(SUB))
    assert azure_auth.resolve(params(), env=env)["auth_source"] == "credential_file"


def test_arguments_win_over_the_source(tmp_path, monkeypatch):
    env = home(tmp_path, monkeypatch, "[default]\nsubscription_id=from-file\nclient_id=c\nsecret=s\ntenant=t\n"
               "[prod]\nsubscription_id=prod-sub\nclient_id=pc\nsecret=ps\ntenant=pt\n")
    auth = azure_auth.resolve(params(auth_source="credential_file", subscription_id=SUB), env=env)
    assert auth["subscription_id"] == SUB and auth["client_id"] == "c"
    assert azure_auth.resolve(params(auth_source="credential_file", profile="prod"), env=env)["tenant"] == "pt"
    assert azure_auth.resolve(params(auth_source="env"), env=dict(env, AZURE_PROFILE="prod"))["client_id"] == "pc"
    with pytest.raises(azure_auth.AzureAuthError, match=r"profile \[qa\] is not in .*credentials \(profiles there: "
                                                        r"default, prod\)"):
        azure_auth.resolve(params(auth_source="credential_file", profile="qa"), env=env)


def test_missing_pieces_are_named():
    with pytest.raises(azure_auth.AzureAuthError, match="secret and tenant are missing from the module arguments"):
        azure_auth.resolve(params(subscription_id=SUB, client_id="c"), env={})
    with pytest.raises(azure_auth.AzureAuthError, match="no subscription: set subscription_id"):
        azure_auth.resolve(params(client_id="c", secret="s", tenant="t"), env={})
    with pytest.raises(azure_auth.AzureAuthError, match="needs .*credentials, which cannot be read"):
        azure_auth.resolve(params(auth_source="credential_file"), env={"AZURE_CONFIG_DIR": "/nonexistent"})


def test_msi_needs_no_secret():
    auth = azure_auth.resolve(params(auth_source="msi", client_id="uami", secret="ignored"),
                              env={"AZURE_SUBSCRIPTION_ID": SUB})
    assert auth["auth_source"] == "msi" and auth["secret"] is None and auth["client_id"] == "uami"


def test_public_view_never_holds_the_secret():
    shown = azure_auth.public(azure_auth.resolve(params(**SP), env={}))
    assert "s3cret-value" not in json.dumps(shown) and "secret" not in shown


def test_missing_sdk_sentence():
    with pytest.raises(azure_auth.AzureAuthError, match=r"install azure-identity and azure-mgmt-security "
                                                        r"\(requirements.txt"):
        azure_auth.import_sdk("azure.not_an_sdk_module")


def test_arm_error_sentences_from_real_sdk_exceptions():
    """azure-core's own exception, built from a real HttpResponse as the SDK does on a 403."""
    from azure.core.exceptions import HttpResponseError  # pylint: disable=import-outside-toplevel
    from azure.core.pipeline.transport import HttpRequest  # pylint: disable=import-outside-toplevel
    from azure.core.rest._http_response_impl import HttpResponseImpl  # pylint: disable=import-outside-toplevel

    class Response(HttpResponseImpl):
        def __init__(self, status, body):
            super().__init__(request=HttpRequest("GET", "https://arm"), internal_response=None, status_code=status,
                             headers={"Content-Type": "application/json"}, reason="x", content_type="application/json",
                             stream_download_generator=None)
            self._content = json.dumps(body).encode()

    auth = azure_auth.resolve(params(**SP), env={})
    body = {"error": {"code": "AuthorizationFailed", "message": "The client 'x' does not have authorization. "
                      "Trace ID: 1"}}
    exc = HttpResponseError(response=Response(403, body))
    msg = azure_errors.arm_error(exc, "set the plan of subscription " + SUB, auth)
    assert msg.startswith("could not set the plan of subscription " + SUB)
    assert "403 AuthorizationFailed" in msg and "Security Admin or Owner" in msg and "Trace ID" not in msg
    throttled = HttpResponseError(response=Response(429, {"error": {"code": "TooManyRequests", "message": "m"}}))
    assert "after 4 retries" in azure_errors.arm_error(throttled, "read", auth)
