#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""tripdeal-vmctl as a script sees it: exit codes, one-line errors, --help,
JSON output.

  test_cli.py BINARY test FAULTS_BINARY
                            libvirt's test driver (state per process, so each
                            command starts empty) -- always runs
  test_cli.py BINARY qemu FAULTS_BINARY
                            a real libvirtd at $TRIPDEAL_TEST_QEMU_URI with a
                            temporary dir pool: create, list, show, create
                            again, faults, destroy (exit 77 when unset)

FAULTS_BINARY is the same CLI linked with tests/vmctl/fault-seam.c: its
creates fail after the step in $TRIPDEAL_VMCTL_FAIL_AT.  BINARY, the one that
is installed, has no fault injection and ignores the variable.
"""
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import unittest

BINARY = None
FAULTS_BINARY = None
MODE = None
TEST_URI = "test:///default"


def run(*args, env=None, uri=None, binary=None):
    cmd = [binary or BINARY]
    if uri:
        cmd += ["-c", uri]
    full_env = dict(os.environ)
    full_env.pop("TRIPDEAL_VMCTL_FAIL_AT", None)
    full_env.update(env or {})
    p = subprocess.run(cmd + list(args), capture_output=True, text=True, env=full_env, timeout=300)
    return p.returncode, p.stdout, p.stderr


def virsh(uri, *args, check=False):
    p = subprocess.run(["virsh", "-q", "-c", uri] + list(args), capture_output=True, text=True,
                       timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"virsh {' '.join(args)}: {p.stderr}")
    return p.returncode, p.stdout


class Common(unittest.TestCase):
    def assert_one_line_error(self, stderr, contains=None):
        lines = stderr.strip("\n").split("\n")
        self.assertEqual(len(lines), 1, f"expected one error line, got: {stderr!r}")
        self.assertTrue(lines[0].startswith("tripdeal-vmctl: error: "), lines[0])
        if contains:
            self.assertIn(contains, lines[0])

    def assert_usage_error(self, stderr, contains=None):
        """Bad flags, names or values: the line every TripDeal program prints."""
        lines = stderr.strip("\n").split("\n")
        self.assertEqual(len(lines), 1, f"expected one error line, got: {stderr!r}")
        self.assertRegex(lines[0], r"^tripdeal-vmctl( [a-z]+)?: .* \(see --help\)$")
        if contains:
            self.assertIn(contains, lines[0])


class TestDriver(Common):
    CREATE = ["--pool", "burst", "--base-image", "/default-pool/base.qcow2",
              "--base-format", "qcow2", "--disk-gib", "1", "--storage-pool", "default-pool",
              "--vcpus", "2", "--memory-mib", "128"]

    def test_help(self):
        code, out, _ = run("--version")
        self.assertEqual(code, 0)
        self.assertRegex(out, r"^tripdeal-vmctl \S+ \(git \S+\)\n$")
        code, out, _ = run("--help")
        self.assertEqual(code, 0)
        self.assertIn("Exit codes:", out)
        for line in ("0  success", "2  usage error", "3  not found", "4  already exists"):
            self.assertIn(line, out)
        for command in ("list", "create", "show", "start", "stop", "reboot", "destroy"):
            code, out, err = run(command, "--help")
            self.assertEqual(code, 0, err)
            self.assertTrue(out.startswith(f"Usage: tripdeal-vmctl {command}"), out)
        code, out, _ = run("create", "--help")
        self.assertIn("--join-file", out)

    def test_usage_errors_exit_2(self):
        code, _, err = run()
        self.assertEqual(code, 2)
        self.assert_usage_error(err, "missing COMMAND")
        code, _, err = run("frobnicate")
        self.assertEqual(code, 2)
        self.assert_usage_error(err, "unknown command")
        code, _, err = run("--output", "yaml", "list")
        self.assertEqual(code, 2)
        self.assert_usage_error(err)
        code, _, err = run("show")
        self.assertEqual(code, 2)
        self.assert_usage_error(err, "missing VM NAME")
        code, _, err = run("show", "a", "b")
        self.assertEqual(code, 2)
        code, _, err = run("list", "--force")
        self.assertEqual(code, 2)
        self.assert_usage_error(err, "unknown option")

    def test_invalid_name_exit_2(self):
        for bad in ("Bad_Name", "x-", "a" * 64, "a'b", "ü"):
            code, _, err = run("create", bad, *self.CREATE, uri=TEST_URI)
            self.assertEqual(code, 2, bad)
            self.assert_usage_error(err, "DNS-1123")

    def test_missing_required_option_exit_2(self):
        args = list(self.CREATE)
        i = args.index("--vcpus")
        del args[i:i + 2]
        code, _, err = run("create", "n1", *args, uri=TEST_URI)
        self.assertEqual(code, 2)
        self.assert_usage_error(err, "--vcpus is required")
        code, _, err = run("create", "n1", *self.CREATE, "--owner", "no-slash", uri=TEST_URI)
        self.assertEqual(code, 2)
        code, _, err = run("create", "n1", *self.CREATE[:-1], "8", "--memory-mib", "lots",
                           uri=TEST_URI)
        self.assertEqual(code, 2)

    def test_not_found_exit_3(self):
        for command in ("show", "start", "stop", "reboot", "destroy"):
            code, _, err = run(command, "nope", uri=TEST_URI)
            self.assertEqual(code, 3, command)
            self.assert_one_line_error(err, "not found")
        code, _, err = run("create", "n1", *self.CREATE, "--join-file", "/nonexistent/join",
                           uri=TEST_URI)
        self.assertEqual(code, 3)
        self.assert_one_line_error(err, "--join-file")

    def test_cannot_connect_exit_5(self):
        code, _, err = run("list", uri="bogus+unix:///nowhere/at/all")
        self.assertEqual(code, 5)
        self.assert_one_line_error(err, "cannot connect")

    def test_create_json(self):
        code, out, err = run("-o", "json", "create", "n1", *self.CREATE, "--owner",
                             "tripdeal/shop", uri=TEST_URI)
        self.assertEqual(code, 0, err)
        vm = json.loads(out)
        self.assertEqual(vm["name"], "n1")
        self.assertEqual(vm["state"], "running")
        self.assertEqual(vm["pool"], "burst")
        self.assertEqual(vm["owner"], "tripdeal/shop")
        self.assertEqual(vm["storagePool"], "default-pool")
        self.assertEqual(vm["vcpus"], 2)
        self.assertEqual(vm["memoryMiB"], 128)
        self.assertRegex(vm["createdAt"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def test_default_uri_from_environment(self):
        code, out, err = run("list", "--output", "json", env={"LIBVIRT_DEFAULT_URI": TEST_URI})
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out), [])  # test driver: fresh state per process

    def test_environment_fallbacks(self):
        env = {"TRIPDEAL_LIBVIRT_URI": TEST_URI, "TRIPDEAL_OUTPUT": "json"}
        code, out, err = run("list", env=env)
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out), [])
        # The flag wins over the environment.
        code, out, err = run("-o", "table", "list", env=env)
        self.assertEqual(code, 0, err)
        self.assertTrue(out.startswith("NAME"), out)
        code, _, err = run("list", env={"TRIPDEAL_OUTPUT": "yaml"})
        self.assertEqual(code, 2)
        self.assert_usage_error(err, 'bad TRIPDEAL_OUTPUT "yaml"')

    def test_fault_injection(self):
        code, _, err = run("create", "n1", *self.CREATE, uri=TEST_URI,
                           env={"TRIPDEAL_VMCTL_FAIL_AT": "define"}, binary=FAULTS_BINARY)
        self.assertEqual(code, 1)
        self.assert_one_line_error(err, "injected fault after step 'define'")
        code, _, err = run("create", "n1", *self.CREATE, uri=TEST_URI,
                           env={"TRIPDEAL_VMCTL_FAIL_AT": "sometimes"}, binary=FAULTS_BINARY)
        self.assertEqual(code, 2)
        self.assert_one_line_error(err, "unknown step 'sometimes'")

    def test_installed_binary_has_no_fault_injection(self):
        code, out, err = run("create", "n1", *self.CREATE, "--output", "json", uri=TEST_URI,
                             env={"TRIPDEAL_VMCTL_FAIL_AT": "define"})
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["name"], "n1")


class TestDriverFixture(Common):
    """list/show/destroy/start/stop on pre-existing VMs: the test driver loaded
    from fixtures/testdriver-nodes.xml (fresh in every process)."""

    URI = "test://" + os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures",
                                   "testdriver-nodes.xml")

    def test_list_finds_tripdeal_vms_only(self):
        code, out, err = run("list", "-o", "json", uri=self.URI)
        self.assertEqual(code, 0, err)
        vms = json.loads(out)
        self.assertEqual([vm["name"] for vm in vms], ["burst-a", "burst-b"])
        self.assertEqual(vms[1]["vcpus"], 2)
        self.assertEqual(vms[1]["memoryMiB"], 128)
        self.assertEqual(vms[0]["createdAt"], "2026-11-25T09:40:00Z")
        code, out, _ = run("list", "--owner", "tripdeal/shop", "-o", "json", uri=self.URI)
        self.assertEqual([vm["name"] for vm in json.loads(out)], ["burst-a"])
        code, out, _ = run("list", "--pool", "other", "-o", "json", uri=self.URI)
        self.assertEqual(json.loads(out), [])
        code, out, _ = run("list", uri=self.URI)
        self.assertEqual(out.splitlines()[0].split()[:4], ["NAME", "STATE", "POOL", "OWNER"])
        self.assertEqual(len(out.splitlines()), 3)

    def test_show(self):
        code, out, err = run("show", "burst-b", "--output", "json", uri=self.URI)
        self.assertEqual(code, 0, err)
        vm = json.loads(out)
        self.assertEqual((vm["owner"], vm["storagePool"], vm["state"]),
                         ("other/shop", "nodes", "running"))
        code, out, err = run("show", "foreign", "-o", "json", uri=self.URI)
        self.assertEqual(code, 0, err)
        self.assertIsNone(json.loads(out)["pool"])

    def test_destroy(self):
        code, out, err = run("destroy", "burst-a", uri=self.URI)
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "burst-a: destroy done\n")
        code, _, err = run("destroy", "foreign", uri=self.URI)
        self.assertEqual(code, 1)
        self.assert_one_line_error(err, "not a TripDeal VM")

    def test_power(self):
        for command in (["stop", "--force"], ["stop"], ["start"], ["reboot"]):
            code, out, err = run(command[0], "burst-a", *command[1:], "-o", "json", uri=self.URI)
            self.assertEqual(code, 0, f"{command}: {err}")
            self.assertEqual(json.loads(out), {"name": "burst-a", "result": command[0]})


class Qemu(Common):
    """The full CLI round trip on a real libvirtd with QEMU."""

    @classmethod
    def setUpClass(cls):
        cls.uri = os.environ["TRIPDEAL_TEST_QEMU_URI"]
        cls.prefix = "vc" + secrets.token_hex(3)
        cls.pool = f"vmctl-cli-{cls.prefix}"
        cls.dir = tempfile.mkdtemp(prefix=f"vmctl-cli-{cls.prefix}-", dir="/var/tmp")
        os.chmod(cls.dir, 0o755)
        cls.base = os.path.join(cls.dir, "base.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", cls.base, "64M"], check=True)
        virsh(cls.uri, "pool-create-as", cls.pool, "dir", "--target", cls.dir, check=True)
        # Input files live outside the pool directory (libvirt lists every file there).
        cls.files = tempfile.mkdtemp(prefix=f"vmctl-cli-{cls.prefix}-files-")
        cls.join = os.path.join(cls.files, "join")
        with open(cls.join, "w") as f:
            f.write("kubeadm join 10.0.0.1:6443 --token \"abc.def\" "
                    "--discovery-token-ca-cert-hash sha256:00\n")
        cls.key = os.path.join(cls.files, "key.pub")
        with open(cls.key, "w") as f:
            f.write("# ops keys\nssh-ed25519 AAAAC3Nza ops@tripdeal\n\nssh-rsa AAAAB3 o'neil\n")

    @classmethod
    def tearDownClass(cls):
        # Everything with our prefix, whatever state a failed test left.
        _, out = virsh(cls.uri, "list", "--all", "--name")
        for name in out.split():
            if name.startswith(cls.prefix):
                virsh(cls.uri, "destroy", name)
                virsh(cls.uri, "undefine", name)
        virsh(cls.uri, "pool-refresh", cls.pool)
        _, out = virsh(cls.uri, "vol-list", cls.pool)
        for line in out.splitlines():
            if line.split():
                virsh(cls.uri, "vol-delete", line.split()[0], "--pool", cls.pool)
        virsh(cls.uri, "pool-destroy", cls.pool)
        shutil.rmtree(cls.dir, ignore_errors=True)
        shutil.rmtree(cls.files, ignore_errors=True)

    def create_args(self):
        return ["--pool", self.prefix, "--base-image", self.base, "--storage-pool", self.pool,
                "--vcpus", "1", "--memory-mib", "64", "--join-file", self.join,
                "--ssh-key", self.key, "--owner", f"tripdeal/{self.prefix}"]

    def volumes(self):
        virsh(self.uri, "pool-refresh", self.pool)
        _, out = virsh(self.uri, "vol-list", self.pool)
        return sorted(line.split()[0] for line in out.splitlines() if line.split())

    def list_names(self):
        code, out, err = run("list", "--pool", self.prefix, "-o", "json", uri=self.uri)
        self.assertEqual(code, 0, err)
        return [vm["name"] for vm in json.loads(out)]

    def test_round_trip(self):
        name = f"{self.prefix}-rt"
        code, out, err = run("create", name, *self.create_args(), "-o", "json", uri=self.uri)
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["state"], "running")
        code, out = virsh(self.uri, "domstate", name)
        self.assertEqual(out.strip(), "running")
        self.assertEqual(self.list_names(), [name])
        self.assertIn(f"{name}.qcow2", self.volumes())
        self.assertIn(f"{name}-seed.iso", self.volumes())

        code, out, err = run("show", name, "-o", "json", uri=self.uri)
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["owner"], f"tripdeal/{self.prefix}")
        code, out, err = run("list", uri=self.uri)
        self.assertEqual(code, 0, err)
        self.assertTrue(out.startswith("NAME"))
        self.assertIn(name, out)

        # Creating it again: exit 4, still exactly one.
        code, _, err = run("create", name, *self.create_args(), uri=self.uri)
        self.assertEqual(code, 4)
        self.assert_one_line_error(err, "already exists")
        self.assertEqual(self.list_names(), [name])

        code, _, err = run("stop", name, "--force", uri=self.uri)
        self.assertEqual(code, 0, err)
        code, out = virsh(self.uri, "domstate", name)
        self.assertEqual(out.strip(), "shut off")
        code, _, err = run("start", name, uri=self.uri)
        self.assertEqual(code, 0, err)

        code, _, err = run("destroy", name, uri=self.uri)
        self.assertEqual(code, 0, err)
        code, _, err = run("show", name, uri=self.uri)
        self.assertEqual(code, 3)
        self.assertEqual(self.list_names(), [])
        self.assertEqual(self.volumes(), ["base.qcow2"])

    def test_fault_at_each_step_leaves_nothing(self):
        name = f"{self.prefix}-fault"
        for step in ("volume", "seed", "define", "start"):
            code, _, err = run("create", name, *self.create_args(), uri=self.uri,
                               env={"TRIPDEAL_VMCTL_FAIL_AT": step}, binary=FAULTS_BINARY)
            self.assertEqual(code, 1, step)
            self.assert_one_line_error(err, f"injected fault after step '{step}'")
            code, _ = virsh(self.uri, "dominfo", name)
            self.assertNotEqual(code, 0, f"domain left after fault at {step}")
            self.assertEqual(self.volumes(), ["base.qcow2"], f"volumes left after {step}")


def main():
    global BINARY, FAULTS_BINARY, MODE
    if len(sys.argv) != 4 or sys.argv[2] not in ("test", "qemu"):
        print("usage: test_cli.py BINARY test|qemu FAULTS_BINARY", file=sys.stderr)
        return 2
    BINARY, MODE, FAULTS_BINARY = sys.argv[1], sys.argv[2], sys.argv[3]
    if MODE == "qemu" and not os.environ.get("TRIPDEAL_TEST_QEMU_URI"):
        print("TRIPDEAL_TEST_QEMU_URI unset: skipping", file=sys.stderr)
        return 77
    loader = unittest.defaultTestLoader
    if MODE == "test":
        suite = unittest.TestSuite([loader.loadTestsFromTestCase(TestDriver),
                                    loader.loadTestsFromTestCase(TestDriverFixture)])
    else:
        suite = loader.loadTestsFromTestCase(Qemu)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
