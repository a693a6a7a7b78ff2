"""The toolchain smoke test's throwaway program: one container from a local image, with one resource from
each provider plugin we build (docker, tls, random), so `pulumi up` and `destroy` go through all three.

The container receives a self-signed certificate as an upload (tls -> docker) and is labelled with a random,
non-secret suffix (random -> docker); the generated password stays a secret output. It also reports what
`stacks.load()` relies on from the language host: every config key, and the list of secret ones (a list even
when there is none).
"""

import pulumi
import pulumi_docker as docker
import pulumi_random as random
import pulumi_tls as tls

config = pulumi.Config()
image = config.require("image")
name = config.require("containerName")

key = tls.PrivateKey("key", algorithm="ECDSA", ecdsa_curve="P256")
cert = tls.SelfSignedCert(
    "cert",
    private_key_pem=key.private_key_pem,
    subject=tls.SelfSignedCertSubjectArgs(common_name="smoke.payment-network"),
    validity_period_hours=1,
    allowed_uses=["server_auth"],
)
suffix = random.RandomString("suffix", length=8, special=False, upper=False)
password = random.RandomPassword("password", length=24, special=False)

container = docker.Container(
    "smoke",
    name=name,
    image=image,
    command=["sleep", "3600"],
    uploads=[docker.ContainerUploadArgs(file="/smoke/cert.pem", content=cert.cert_pem)],
    labels=[docker.ContainerLabelArgs(label="com.payment-platform.smoke", value=suffix.result)],
    network_mode="none",
    must_run=True,
)

pulumi.export("containerId", container.id)
pulumi.export("suffix", suffix.result)
pulumi.export("certPem", cert.cert_pem)
pulumi.export("password", password.result)
pulumi.export("secretKeys", sorted(pulumi.runtime.get_config_secret_keys_env()))
token = config.get_secret("token")
if token is not None:
    pulumi.export("token", token)
