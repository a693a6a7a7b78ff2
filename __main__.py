"""payment-platform: the 19-service payment platform on Docker, one Pulumi stack per environment.

Load and check the stack's configuration (nothing is registered if it is invalid), build the platform,
export what operators look up. The same file runs under `pulumi up` and under `python -m plan render`.
"""

import pulumi

import stacks
from components.platform import Platform, PlatformArgs

config = stacks.load()
platform = Platform("payment", PlatformArgs(config=config))

pulumi.export("profile", config.profile)
pulumi.export(
    "network",
    {
        "name": platform.network.network_name,
        "subnet": str(config.network.subnet),
        # Who is on which network: the segmentation a reviewer checks (stacks/resolve/networks.py).
        "segments": {s.name: {"internal": s.internal, "members": list(s.members)} for s in config.segments},
    },
)
pulumi.export(
    "services",
    {
        s.name: {"port": s.port, "database": s.database, "replicas": s.replicas, "containers": list(s.container_names)}
        for s in config.services
    },
)
pulumi.export("caCertificate", platform.pki.ca_cert_pem)
pulumi.export("caBundle", platform.pki.trust_bundle)
pulumi.export("caExpires", platform.pki.ca_expires)
pulumi.export("gatewayUrl", platform.kong.proxy_url)
pulumi.export("urls", platform.urls)
pulumi.export("endpoints", platform.endpoints)
pulumi.export("operatorCertificate", platform.pki.certificates["operator"].cert_pem)
pulumi.export("operatorKey", pulumi.Output.secret(platform.pki.certificates["operator"].private_key_pem))
# The key of Kong's operator-only routes (`X-Operator-Key`), for operators and `make e2e`.
pulumi.export("operatorApiKey", pulumi.Output.secret(platform.secrets.values["gateway-operator-key"]))
pulumi.export("grafanaAdminPassword", pulumi.Output.secret(platform.secrets.values["grafana-admin-password"]))
