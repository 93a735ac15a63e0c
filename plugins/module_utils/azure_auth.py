# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Authentication to Microsoft Entra ID and Azure Resource Manager for the collection's controller-side Azure modules.

Why modules and not action plugins: these modules talk to Azure only, never to a managed host, so they run on
localhost like azure.azcollection's modules do. As modules they get what users of that collection expect:
``module_defaults`` through the ``group/defender.endpoint.azure`` action group, ``delegate_to``, the interpreter
that holds the Azure SDKs (``ansible_python_interpreter`` of localhost, not necessarily the controller's), and
AnsibleModule's ``no_log`` masking of the secret in results, invocation and ``-vvv`` output. An action plugin would
run inside the controller process, where the SDKs would have to be installed and secrets masked by hand.

This layer holds nothing specific to Defender for Cloud: the argument spec of the ``azure_auth`` doc fragment,
the choice of credential (``auth_source``), the cloud endpoints, and a factory for any ARM management client.
"""

from __future__ import annotations

import configparser
import json
import os

from ansible.module_utils.basic import env_fallback
from ansible_collections.defender.endpoint.plugins.module_utils import azure_errors

# Endpoints of the clouds where Defender for Cloud's integration with Defender for Endpoint exists.
CLOUDS = {
    "AzureCloud": {
        "arm_endpoint": "https://management.azure.com",
        "authority": "https://login.microsoftonline.com",
        "credential_scope": "https://management.azure.com/.default",
    },
    "AzureUSGovernment": {
        "arm_endpoint": "https://management.usgovcloudapi.net",
        "authority": "https://login.microsoftonline.us",
        "credential_scope": "https://management.usgovcloudapi.net/.default",
    },
}
REFUSED_CLOUDS = {
    "AzureChinaCloud": "cloud_environment AzureChinaCloud is not supported: Microsoft Defender for Endpoint and its "
                       "integration with Defender for Cloud are offered in the commercial (AzureCloud) and US "
                       "Government (AzureUSGovernment) clouds only, not in Azure China (R-74); no request was sent",
}

AUTH_SOURCES = ["auto", "cli", "credential_file", "env", "msi"]

AZURE_AUTH_ARGSPEC = {
    "auth_source": {"type": "str", "default": "auto", "choices": AUTH_SOURCES,
                    "fallback": (env_fallback, ["ANSIBLE_AZURE_AUTH_SOURCE"])},
    "profile": {"type": "str"},
    "subscription_id": {"type": "str"},
    "client_id": {"type": "str"},
    "secret": {"type": "str", "no_log": True},
    "tenant": {"type": "str"},
    "cloud_environment": {"type": "str", "choices": ["AzureCloud", "AzureUSGovernment", "AzureChinaCloud"]},
    "authority": {"type": "str"},
    "arm_endpoint": {"type": "str"},
    "disable_instance_discovery": {"type": "bool", "default": False},
    "ca_bundle": {"type": "path"},
    "request_retries": {"type": "int", "default": 4},
    "request_timeout": {"type": "int", "default": 60},
}

MISSING_SDK = ("the Azure SDK for Python is missing on the host that runs this module ({0}): install {1} "
               "(requirements.txt of the collection) into the Python of localhost (ansible_python_interpreter)")
DEFAULT_SDK_PACKAGES = "azure-identity and azure-mgmt-security"


class AzureAuthError(Exception):
    """A problem with the authentication settings, in one sentence that never holds a secret."""


def import_sdk(what, packages=DEFAULT_SDK_PACKAGES):
    """Import an Azure SDK module by name; AzureAuthError with the install sentence (naming packages) when missing."""
    import importlib
    try:
        return importlib.import_module(what)
    except ImportError as exc:
        raise AzureAuthError(MISSING_SDK.format(exc, packages)) from None


def _config_dir(env):
    return env.get("AZURE_CONFIG_DIR") or os.path.join(os.path.expanduser("~"), ".azure")


def _credentials_file(env):
    return os.path.join(os.path.expanduser("~"), ".azure", "credentials") if "AZURE_CONFIG_DIR" not in env \
        else os.path.join(env["AZURE_CONFIG_DIR"], "credentials")


def _read_profile(env, name):
    path = _credentials_file(env)
    parser = configparser.ConfigParser()
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError:
        raise AzureAuthError("auth_source credential_file needs {0}, which cannot be read".format(path)) from None
    except configparser.Error:
        raise AzureAuthError("{0} is not an INI file with [profile] sections".format(path)) from None
    if not parser.has_section(name):
        raise AzureAuthError("profile [{0}] is not in {1} (profiles there: {2})".format(
            name, path, ", ".join(parser.sections()) or "none"))
    return dict(parser.items(name))


def _cli_default_subscription(env):
    path = os.path.join(_config_dir(env), "azureProfile.json")
    try:
        with open(path, encoding="utf-8-sig") as handle:
            accounts = json.load(handle).get("subscriptions", [])
    except (OSError, ValueError):
        return None
    return next((a.get("id") for a in accounts if a.get("isDefault")), None)


def _https(name, value):
    if not value.lower().startswith("https://"):
        raise AzureAuthError("{0} must be an https:// URL (got {1}); Azure refuses bearer tokens over http".format(
            name, value.split("?")[0]))
    return value.rstrip("/")


def resolve(params, env=None):
    """Decide the credential and endpoints from the module arguments, AZURE_* variables and profiles.

    Returns a dict without any SDK object. Order of auth_source auto: client_id/secret/tenant given as module
    arguments; AZURE_CLIENT_ID/AZURE_SECRET/AZURE_TENANT or AZURE_PROFILE in the environment; the [default]
    profile of ~/.azure/credentials when that file exists; the Azure CLI's login.
    """
    env = os.environ if env is None else env
    source = params.get("auth_source") or "auto"
    found = {}
    if source == "auto":
        if any(params.get(k) for k in ("client_id", "secret", "tenant")):
            source = "module"
        elif env.get("AZURE_CLIENT_ID") or env.get("AZURE_SECRET") or env.get("AZURE_PROFILE"):
            source = "env"
        elif os.path.isfile(_credentials_file(env)):
            source = "credential_file"
        else:
            source = "cli"
    if source == "env":
        if env.get("AZURE_PROFILE") and not env.get("AZURE_CLIENT_ID"):
            found = _read_profile(env, env["AZURE_PROFILE"])
        else:
            found = {"subscription_id": env.get("AZURE_SUBSCRIPTION_ID"), "client_id": env.get("AZURE_CLIENT_ID"),
                     "secret": env.get("AZURE_SECRET"), "tenant": env.get("AZURE_TENANT")}
        found["cloud_environment"] = env.get("AZURE_CLOUD_ENVIRONMENT") or found.get("cloud_environment")
    elif source == "credential_file":
        found = _read_profile(env, params.get("profile") or env.get("AZURE_PROFILE") or "default")
    elif source in ("cli", "msi"):
        found = {"subscription_id": env.get("AZURE_SUBSCRIPTION_ID")}
        if source == "cli" and not found["subscription_id"]:
            found["subscription_id"] = _cli_default_subscription(env)
    # Module arguments win over what a source found.
    merged = {k: params.get(k) or found.get(k) for k in ("subscription_id", "client_id", "secret", "tenant")}
    if source in ("cli", "msi"):
        merged["secret"] = None
    cloud = params.get("cloud_environment") or found.get("cloud_environment") or "AzureCloud"
    if cloud in REFUSED_CLOUDS:
        raise AzureAuthError(REFUSED_CLOUDS[cloud])
    if cloud not in CLOUDS:
        raise AzureAuthError("cloud_environment {0} is not known; use AzureCloud or AzureUSGovernment".format(cloud))
    if source in ("module", "env", "credential_file"):
        missing = [k for k in ("client_id", "secret", "tenant") if not merged.get(k)]
        if missing:
            where = {"module": "the module arguments", "env": "the AZURE_* environment variables",
                     "credential_file": "the credentials profile"}[source]
            raise AzureAuthError("a service principal needs client_id, secret and tenant; {0} from {1}".format(
                " and ".join(missing) + (" is" if len(missing) == 1 else " are") + " missing", where))
    if not merged.get("subscription_id"):
        raise AzureAuthError("no subscription: set subscription_id (or AZURE_SUBSCRIPTION_ID)")
    endpoints = dict(CLOUDS[cloud])
    if params.get("arm_endpoint"):
        endpoints["arm_endpoint"] = _https("arm_endpoint", params["arm_endpoint"])
    if params.get("authority"):
        endpoints["authority"] = _https("authority", params["authority"])
    return {"auth_source": "credential" if source == "module" else source, "cloud_environment": cloud,
            "subscription_id": merged["subscription_id"], "client_id": merged.get("client_id"),
            "secret": merged.get("secret"), "tenant": merged.get("tenant"),
            "disable_instance_discovery": bool(params.get("disable_instance_discovery")),
            "connection_verify": params.get("ca_bundle") or True,
            "retries": max(0, int(params.get("request_retries") if params.get("request_retries") is not None else 4)),
            "timeout": int(params.get("request_timeout") or 60), **endpoints}


def _transport_kwargs(auth):
    return {"connection_verify": auth["connection_verify"], "retry_total": auth["retries"],
            "connection_timeout": auth["timeout"], "read_timeout": auth["timeout"]}


def credential(auth):
    """The azure-identity credential for a resolved auth dict (imports azure-identity lazily)."""
    identity = import_sdk("azure.identity")
    kwargs = _transport_kwargs(auth)
    if auth["auth_source"] == "cli":
        return identity.AzureCliCredential(tenant_id=auth.get("tenant") or "", process_timeout=auth["timeout"])
    if auth["auth_source"] == "msi":
        return identity.ManagedIdentityCredential(client_id=auth.get("client_id"), **kwargs)
    return identity.ClientSecretCredential(auth["tenant"], auth["client_id"], auth["secret"],
                                           authority=auth["authority"],
                                           disable_instance_discovery=auth["disable_instance_discovery"], **kwargs)


def signed_in(auth, error):
    """A credential that already holds a token for the ARM scope; any sign-in failure raised as error(one sentence)."""
    try:
        cred = credential(auth)
        cred.get_token(auth["credential_scope"])
    except AzureAuthError as exc:
        raise error(str(exc)) from None
    except Exception as exc:  # pylint: disable=broad-except  # any sign-in failure becomes one sentence
        raise error(azure_errors.sign_in_error(exc, auth)) from None
    return cred


def access_token(auth, error):
    """An ARM access token (its string) for the resolved auth; any sign-in failure raised as error(one sentence).

    For a module that hands the token to a managed host (arc_connect): the secret stays on the controller.
    """
    try:
        return credential(auth).get_token(auth["credential_scope"]).token
    except AzureAuthError as exc:
        raise error(str(exc)) from None
    except Exception as exc:  # pylint: disable=broad-except  # any sign-in failure becomes one sentence
        raise error(azure_errors.sign_in_error(exc, auth)) from None


def _policies(config, kwargs):
    """The generated clients' default pipeline minus ARMAutoResourceProviderRegistrationPolicy.

    That policy answers ARM's MissingSubscriptionRegistration (409) by registering the resource provider - a POST
    to the subscription that would break check mode and is not the module's to make. Without it, the 409 reaches
    the error mapping as one sentence that says how to register the provider.
    """
    policies = import_sdk("azure.core.pipeline.policies")
    chain = [policies.RequestIdPolicy(**kwargs), config.headers_policy, config.user_agent_policy, config.proxy_policy,
             policies.ContentDecodePolicy(**kwargs), config.redirect_policy, config.retry_policy,
             config.authentication_policy, config.custom_hook_policy, config.logging_policy,
             policies.DistributedTracingPolicy(**kwargs),
             policies.SensitiveHeaderCleanupPolicy(**kwargs) if config.redirect_policy else None,
             config.http_logging_policy]
    return [p for p in chain if p is not None]


def arm_client(client_class, auth, cred, **kwargs):
    """Any track-2 ARM management client (SecurityCenter, HybridComputeManagementClient...) on the resolved cloud."""
    kwargs.update(base_url=auth["arm_endpoint"], credential_scopes=[auth["credential_scope"]],
                  **_transport_kwargs(auth))
    probe = client_class(cred, auth["subscription_id"], **kwargs)
    config = probe._config  # pylint: disable=protected-access  # every generated ARM client has one
    return client_class(cred, auth["subscription_id"], policies=_policies(config, kwargs), **kwargs)


def public(auth):
    """What a result may show of the resolved authentication: never the secret."""
    return {k: auth[k] for k in ("auth_source", "cloud_environment", "subscription_id", "arm_endpoint", "authority",
                                 "credential_scope")}
