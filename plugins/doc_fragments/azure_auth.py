# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Authentication of the controller-side Azure modules, in the terms azure.azcollection users know.
    DOCUMENTATION = r"""
options:
  auth_source:
    description:
      - Where the credential comes from.
      - C(auto) takes, in this order, O(client_id)/O(secret)/O(tenant) given as module arguments; the
        E(AZURE_CLIENT_ID)/E(AZURE_SECRET)/E(AZURE_TENANT) variables or a profile named by E(AZURE_PROFILE);
        the C([default]) profile of C(~/.azure/credentials) when that file exists; then the Azure CLI's login.
        The source used is returned as C(auth.auth_source).
      - C(env) reads E(AZURE_SUBSCRIPTION_ID), E(AZURE_CLIENT_ID), E(AZURE_SECRET), E(AZURE_TENANT) and
        E(AZURE_CLOUD_ENVIRONMENT) (or the profile named by E(AZURE_PROFILE)).
      - C(credential_file) reads the profile O(profile) (default C(default)) of C(~/.azure/credentials)
        (C($AZURE_CONFIG_DIR/credentials) when E(AZURE_CONFIG_DIR) is set), with the keys C(subscription_id),
        C(client_id), C(secret), C(tenant) and optionally C(cloud_environment).
      - C(cli) uses C(az login); the subscription is O(subscription_id), E(AZURE_SUBSCRIPTION_ID) or the CLI's
        default subscription.
      - C(msi) uses the managed identity of the machine that runs the module (O(client_id) picks a user-assigned
        identity); O(subscription_id) or E(AZURE_SUBSCRIPTION_ID) is needed.
      - Module arguments always win over what a source provides.
      - Default E(ANSIBLE_AZURE_AUTH_SOURCE) when set, else C(auto).
    type: str
    default: auto
    choices: [auto, cli, credential_file, env, msi]
  profile:
    description:
      - Profile of the credentials file, for O(auth_source=credential_file).
    type: str
  subscription_id:
    description:
      - The Azure subscription (a GUID).
    type: str
  client_id:
    description:
      - Application (client) id of the service principal, or of a user-assigned managed identity with
        O(auth_source=msi).
    type: str
  secret:
    description:
      - Client secret of the service principal. Never returned, logged or shown in a diff.
    type: str
  tenant:
    description:
      - Microsoft Entra tenant id of the service principal.
    type: str
  cloud_environment:
    description:
      - C(AzureCloud) signs in at C(https://login.microsoftonline.com) and calls C(https://management.azure.com)
        with the token scope C(https://management.azure.com/.default).
      - C(AzureUSGovernment) signs in at C(https://login.microsoftonline.us) and calls
        C(https://management.usgovcloudapi.net) with the scope C(https://management.usgovcloudapi.net/.default).
      - C(AzureChinaCloud) is refused before any request, because Defender for Endpoint's integration with
        Defender for Cloud is not offered there (R-74).
      - Default E(AZURE_CLOUD_ENVIRONMENT) with O(auth_source=env), the profile's C(cloud_environment), else
        C(AzureCloud).
    type: str
    choices: [AzureCloud, AzureUSGovernment, AzureChinaCloud]
  authority:
    description:
      - Microsoft Entra authority to sign in at instead of the cloud's own (an C(https://) URL), for private
        clouds, proxies that front the authority, and tests.
      - An authority that is not a well-known Microsoft host needs O(disable_instance_discovery=true).
    type: str
  arm_endpoint:
    description:
      - Azure Resource Manager URL to call instead of the cloud's own (C(https://) only). The token scope stays
        the one of O(cloud_environment).
    type: str
  disable_instance_discovery:
    description:
      - Skip the instance discovery that asks C(login.microsoftonline.com) whether O(authority) is trusted, for
        private or disconnected authorities. The authority's OpenID configuration is read from the authority itself.
    type: bool
    default: false
  ca_bundle:
    description:
      - PEM file of the certificate authorities to trust for the authority and Azure Resource Manager (a private
        cloud, a TLS-inspecting proxy). Passed to azure-identity and to the management client as their
        C(connection_verify); the E(REQUESTS_CA_BUNDLE) variable has the same effect for every request.
      - Default the certificate authorities of the Python C(certifi) bundle.
    type: path
  request_retries:
    description:
      - How many times a request is retried after a throttling (429) or server (5xx) answer or a connection error,
        with exponential backoff (the first retry at once, then 1.6 s, 3.2 s and so on; ARM's C(Retry-After)
        honoured), before the module fails.
    type: int
    default: 4
  request_timeout:
    description:
      - Seconds to wait for a connection and for each answer.
    type: int
    default: 60
requirements:
  - python >= 3.9
  - azure-identity >= 1.15
  - azure-mgmt-security >= 7.0.0
notes:
  - The module runs where the task runs (usually C(localhost)); that Python needs azure-identity and
    azure-mgmt-security (the collection's C(requirements.txt)).
  - Set the options once for every Azure module of the collection with
    C(module_defaults) and the group C(group/defender.endpoint.azure).
"""
