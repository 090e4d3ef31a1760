#!/usr/bin/env python3
"""Offline checks of the lab's configuration: no FreeSWITCH and no Docker needed.

What it checks:
- freeswitch/freeswitch.xml, assembled the way FreeSWITCH's preprocessor does it (line by
  line: include globs relative to the including file, set and env-set, double-dollar
  variables, lines holding include tags or an xml declaration dropped), parses as XML and
  holds what the lab relies on: the modules, the inbound socket, the SIP profile, user
  1000, the dialplan routes to pivot with their fallback, the test extensions of the
  conformance suite, the start-up module report, the en language;
- it does so twice: as started by hand on a host (no environment: the defaults of
  vars.xml) and as the docker lab starts it (the environment docker-compose.yml gives the
  freeswitch service), and checks what must differ (pivot's and the web app's address, the
  inbound socket, the log file);
- pivot.toml uses only keys pivot accepts, with consistent accounts, and its event socket
  allow list names hosts, never everyone;
- docker-compose.yml (when PyYAML is installed) mounts what exists, publishes the RTP
  range FreeSWITCH uses, and gives FreeSWITCH the fixed address (in the network's fixed
  subnet) that pivot.toml's allow list names, and only that one.
What it cannot check: that FreeSWITCH accepts every parameter, that the image has the
modules, or that a call works. docs/lab.md says how to check those on a Docker host.

Usage: python3 freeswitch-conf/check-config.py     (exit status 1 when a check fails)
"""

import glob
import ipaddress
import os
import re
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.join(HERE, "freeswitch")

# Globals FreeSWITCH defines itself (values as in a Debian-built 1.10 image).
FS_GLOBALS = {
    "local_ip_v4": "172.18.0.4",
    "base_dir": "/usr",
    "sounds_dir": "/usr/share/freeswitch/sounds",
    "log_dir": "/var/log/freeswitch",
    "certs_dir": "/etc/freeswitch/tls",
}
# The docker lab's environment (docker-compose.yml, service freeswitch; check_compose
# checks that the compose file still says this).
LAB_ENV = {
    "FS_EXTERNAL_IP": "192.0.2.10",
    "PIVOT_HOST": "pivot",
    "PIVOT_PORT": "8084",
    "WEBAPP_URL": "http://webapp:5000",
    "FS_LOG_FILE": "/dev/stdout",
    "FS_LOG_ROLLOVER": "0",
    "FS_ESL_LISTEN_IP": "0.0.0.0",
    "FS_ESL_ACL": "esl_lab",
}
HOST_ENV = {}

MODULES = {
    "mod_console",
    "mod_logfile",
    "mod_event_socket",
    "mod_dptools",
    "mod_commands",
    "mod_dialplan_xml",
    "mod_loopback",
    "mod_sofia",
    "mod_sndfile",
    "mod_native_file",
    "mod_tone_stream",
    "mod_http_cache",
    "mod_httapi",
    "mod_flite",
    "mod_say_en",
    "mod_shout",
}
CONFIGS = {
    "modules.conf",
    "switch.conf",
    "console.conf",
    "logfile.conf",
    "event_socket.conf",
    "sofia.conf",
    "http_cache.conf",
    "httapi.conf",
    "shout.conf",
    "acl.conf",
}
SOCKET = "${pivot_host}:${pivot_port} ${pivot_socket_mode} full"
# What the two ways of starting FreeSWITCH must give (vars.xml defaults vs. the lab's env).
EXPECTED = {
    "host": {
        "pivot_host": "127.0.0.1",
        "pivot_port": "8084",
        "webapp_url": "http://127.0.0.1:5000",
        "esl": ("127.0.0.1", "8021", "ClueCon", "loopback.auto"),
        "log": ("/var/log/freeswitch/freeswitch.log", "10485760"),
    },
    "lab": {
        "pivot_host": "pivot",
        "pivot_port": "8084",
        "webapp_url": "http://webapp:5000",
        "esl": ("0.0.0.0", "8021", "ClueCon", "esl_lab"),
        "log": ("/dev/stdout", "0"),
    },
}
# The conformance suite's extensions (tests/freeswitch): number -> applications, in order.
TEST_EXTENSIONS = {
    "9000": ["set", "socket", "set", "log", "playback", "hangup"],
    "9001": ["sched_hangup", "answer", "park"],
    "9002": ["sched_hangup", "answer", "sleep", "send_dtmf", "park"],
    "9003": ["sched_hangup", "answer", "playback"],
    "9010": ["answer", "playback", "hangup"],
    "9011": ["ring_ready", "sleep", "hangup"],
    "9012": ["hangup"],
    "9020": ["answer", "httapi", "hangup"],
}
# Channel variables the dialplan may read that are not globals from vars.xml.
CHANNEL_VARS = {"destination_number"}
PIVOT_KEYS = {
    "": {"default_account", "callflows", "esl", "api", "store", "http", "media", "accounts"},
    "esl": {
        "listen",
        "allow",
        "max_calls",
        "max_handshaking",
        "handshake_timeout_ms",
        "max_frame_bytes",
        "hangup_wait_ms",
        "reply_timeout_ms",
        "upload_timeout_secs",
        "max_call_secs",
    },
    "api": {"listen", "token_ttl_secs"},
    "store": {"path", "retention_days", "queue_capacity"},
    "http": {
        "max_body_bytes",
        "max_redirects",
        "max_requests_per_call",
        "max_flow_nodes",
        "max_flow_depth",
        "user_agent",
    },
    "media": {
        "tts_engine",
        "tts_voice",
        "recordings_dir",
        "media_dir",
        "media_roots",
        "beep",
        "keep_recordings",
        "recordings_max_age_secs",
    },
    "accounts": {"id", "name", "api_key"},
}
HEX32 = re.compile(r"^[0-9a-f]{32}$")


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        print(("ok   - " if ok else "FAIL - ") + what)
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok


class Preprocessor:
    """FreeSWITCH's XML preprocessor, the parts this configuration uses."""

    DIRECTIVE = re.compile(r'<X-PRE-PROCESS\s+cmd="([^"]*)"\s+data="([^"]*)"\s*/>', re.I)

    def __init__(self, env, report):
        self.vars = dict(FS_GLOBALS)
        self.env = env
        self.env_sets = []
        self.defaults_before_env = set()
        self.report = report
        self.problems = []

    def expand(self, line, where):
        def value(match):
            if match.group(1) not in self.vars:
                self.problems.append("%s: undefined variable %s" % (where, match.group(1)))
            return self.vars.get(match.group(1), "")

        return re.sub(r"\$\$\{([^}]*)\}", value, line)

    def run(self, path, depth=0):
        out, in_comment = [], False
        with open(path, encoding="utf-8") as f:
            for number, raw in enumerate(f, 1):
                where = "%s:%d" % (os.path.relpath(path, CONF), number)
                if len(raw) >= 2048:
                    self.problems.append(
                        "%s: longer than FreeSWITCH's 2048-byte line buffer" % where
                    )
                line = self.expand(raw, where)
                starts_in_comment = in_comment
                in_comment = self.comment_state(line, in_comment)
                if "<include>" in line or "</include>" in line or "<?" in line:
                    continue
                if "x-pre-process" in line.lower():
                    if starts_in_comment or "<!--" in line.split("X-PRE-PROCESS")[0]:
                        self.problems.append(
                            "%s: directive inside a comment (FreeSWITCH runs it)" % where
                        )
                    out.extend(self.directive(line, where, os.path.dirname(path), depth))
                    continue
                out.append(line)
        return out

    @staticmethod
    def comment_state(line, in_comment):
        for token in re.findall(r"<!--|-->", line):
            in_comment = token == "<!--"
        return in_comment

    def directive(self, line, where, cwd, depth):
        match = self.DIRECTIVE.search(line)
        if not match:
            self.problems.append("%s: unreadable directive" % where)
            return []
        cmd, data = match.group(1).lower(), match.group(2)
        name, _, val = data.partition("=")
        if cmd == "set":
            self.vars[name.strip()] = val.strip()
        elif cmd == "env-set" and val.startswith("$"):
            self.env_sets.append(name)
            if name in self.vars:
                self.defaults_before_env.add(name)
            if val[1:] in self.env:
                self.vars[name] = self.env[val[1:]]
        elif cmd == "include" and depth < 20:
            paths = sorted(glob.glob(os.path.join(cwd, data)))
            if not paths:
                self.problems.append("%s: include %s matches no file" % (where, data))
            return [l for p in paths for l in self.run(p, depth + 1)]
        else:
            self.problems.append("%s: unsupported directive %s" % (where, cmd))
        return []


def params(element):
    return {p.get("name"): p.get("value") for p in element.iter("param")}


def configuration(root, name):
    return root.find("./section[@name='configuration']/configuration[@name='%s']" % name)


def check_modules_and_sockets(root, r):
    names = [c.get("name") for c in root.findall("./section[@name='configuration']/configuration")]
    r.check(
        set(names) == CONFIGS and len(names) == len(set(names)), "configurations %s" % sorted(names)
    )
    loaded = [m.get("module") for m in configuration(root, "modules.conf").iter("load")]
    r.check(
        set(loaded) == MODULES and len(loaded) == len(MODULES),
        "modules.conf loads exactly the lab's modules",
    )
    cache = params(configuration(root, "http_cache.conf"))
    r.check(
        "location" in cache and cache.get("enable-file-formats") == "false",
        "http_cache.conf settings",
    )
    profile = configuration(root, "httapi.conf").find("profiles/profile[@name='default']")
    r.check(
        profile is not None and params(profile).get("gateway-url", "").endswith("/httapi"),
        "httapi.conf has the default profile, gateway-url .../httapi",
    )


def check_environment(root, pre, r, env):
    """What differs between a host start and the docker lab: addresses, socket, log."""
    want = EXPECTED[env]
    for name in ("pivot_host", "pivot_port", "webapp_url"):
        r.check(
            pre.vars.get(name) == want[name],
            "%s: %s is %s" % (env, name, want[name]),
        )
    esl = params(configuration(root, "event_socket.conf"))
    got = tuple(esl.get(k) for k in ("listen-ip", "listen-port", "password", "apply-inbound-acl"))
    r.check(got == want["esl"], "%s: inbound event socket %s" % (env, "/".join(got)))
    acls = {l.get("name") for l in root.iter("list")}
    acl = got[3] or ""
    r.check(acl.endswith(".auto") or acl in acls, "%s: event socket list %s exists" % (env, acl))
    profile = configuration(root, "logfile.conf").find("profiles/profile[@name='default']")
    log = params(profile.find("settings"))
    r.check(
        (log.get("logfile"), log.get("rollover")) == want["log"],
        "%s: log file %s, rollover %s" % ((env,) + want["log"]),
    )
    levels = profile.find("mappings/map[@name='all']").get("value", "").split(",")
    r.check("console" in levels, "%s: the log keeps console-level lines (start-up report)" % env)


def check_vars(pre, r):
    """Every env-set has a set default before it; the start-up module report."""
    missing = [n for n in pre.env_sets if n not in pre.defaults_before_env]
    r.check(not missing, "every env-set variable has a default set before it %s" % missing)
    report = pre.vars.get("api_on_startup", "")
    r.check(
        all("module_exists %s" % m in report for m in ("mod_shout", "mod_http_cache", "mod_httapi"))
        and "${" not in report,
        "api_on_startup reports mod_shout, mod_http_cache, mod_httapi (no ${} in a global)",
    )


def check_sofia(root, r):
    profiles = root.findall(
        "./section[@name='configuration']/configuration[@name='sofia.conf']/profiles/profile"
    )
    if not r.check([p.get("name") for p in profiles] == ["internal"], "one SIP profile, internal"):
        return
    s = params(profiles[0].find("settings"))
    r.check(
        s.get("sip-port") == "5060"
        and s.get("context") == "default"
        and s.get("auth-calls") == "true",
        "internal: port 5060, context default, calls authenticated",
    )
    ext = LAB_ENV["FS_EXTERNAL_IP"]
    r.check(
        s.get("ext-sip-ip") == ext and s.get("ext-rtp-ip") == ext,
        "ext-sip-ip/ext-rtp-ip come from FS_EXTERNAL_IP",
    )
    r.check(
        "rtp-timeout-sec" not in s and "rtp-hold-timeout-sec" not in s,
        "no deprecated rtp-timeout-sec/rtp-hold-timeout-sec (FreeSWITCH 1.10 warns)",
    )
    acls = {l.get("name") for l in root.iter("list")}
    acl = s.get("local-network-acl", "")
    r.check(acl.endswith(".auto") or acl in acls, "local-network-acl %s is defined" % acl)


def check_directory(root, r):
    user = root.find("./section[@name='directory']/domain/groups/group/users/user[@id='1000']")
    if not r.check(user is not None, "directory has user 1000"):
        return
    variables = {v.get("name"): v.get("value") for v in user.iter("variable")}
    r.check(
        params(user).get("password") == "1000" and variables.get("user_context") == "default",
        "user 1000: password 1000, context default",
    )


def route(context, number):
    """The actions of the first extension whose conditions all match (no regex captures)."""
    for ext in context.findall("extension"):
        conds = ext.findall("condition")
        if conds and all(
            re.search(c.get("expression", ""), number)
            for c in conds
            if c.get("field") == "destination_number"
        ):
            return ext.get("name"), [
                (a.get("application"), a.get("data")) for c in conds for a in c.findall("action")
            ]
    return None, []


def check_dialplan(root, pre, r):
    context = root.find("./section[@name='dialplan']/context[@name='default']")
    if not r.check(context is not None, "dialplan context default"):
        return
    name, actions = route(context, "3004")
    r.check(
        ("set", "pivot_voice_url=%s/voice" % pre.vars.get("webapp_url")) in actions
        and ("set", "pivot_debug=true") in actions,
        "3004 (%s) sets pivot_voice_url (webapp_url/voice) and pivot_debug" % name,
    )
    check_socket_and_fallback(r, "3004", actions)
    name, actions = route(context, "777")
    r.check(
        name is not None and name != route(context, "3004")[0],
        "777 reaches the catch-all (%s)" % name,
    )
    check_socket_and_fallback(r, "777", actions)
    r.check(route(context, "abc")[0] is None, "a non-numeric destination matches no extension")
    for number, apps in TEST_EXTENSIONS.items():
        name, actions = route(context, number)
        r.check(
            name not in (None, route(context, "777")[0]) and [a for a, _ in actions] == apps,
            "test extension %s (%s): %s" % (number, name, " ".join(apps)),
        )
    _, actions = route(context, "9000")
    check_socket_and_fallback(r, "9000", actions)
    r.check(
        actions[:2] == [("set", "socket_resume=true"), ("socket", SOCKET)],
        "9000 sets no pivot_* variable before the socket (the test call's own win)",
    )
    check_runtime_variables(context, pre, r)


def check_runtime_variables(context, pre, r):
    """Every ${name} the dialplan reads is a global from vars.xml (the default a channel
    variable of the same name overrides) or a channel variable FreeSWITCH always sets."""
    unknown = set()
    for action in context.iter("action"):
        for name in re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}", action.get("data") or ""):
            if name not in pre.vars and name not in CHANNEL_VARS:
                unknown.add(name)
    r.check(not unknown, "every ${variable} of the dialplan has a default %s" % sorted(unknown))


def check_socket_and_fallback(r, number, actions):
    apps = [a for a, _ in actions]
    if not r.check(("socket", SOCKET) in actions, "%s runs socket %s" % (number, SOCKET)):
        return
    at = actions.index(("socket", SOCKET))
    r.check(
        ("set", "socket_resume=true") in actions[:at],
        "%s sets socket_resume=true before the socket (a dropped call is not parked)" % number,
    )
    sets = [d.split("=")[0] for a, d in actions[:at] if a == "set"]
    later = [d.split("=")[0] for a, d in actions[at:] if a == "set"]
    r.check(
        later in ([], ["pivot_fallback"]),
        "%s sets every variable before the socket %s (then only pivot_fallback)" % (number, sets),
    )
    r.check(
        "playback" in apps[at:] and apps[-1] == "hangup",
        "%s has a fallback after socket: %s" % (number, apps[at + 1 :]),
    )


def check_language(root, r):
    lang = root.find("./section[@name='languages']/language[@name='en']")
    ok = (
        lang is not None
        and lang.get("say-module") == "en"
        and lang.find("phrases/macros") is not None
    )
    r.check(ok, "language en with say-module en and phrases/macros")


def assemble(env, r):
    pre = Preprocessor(env, r)
    text = "".join(pre.run(os.path.join(CONF, "freeswitch.xml")))
    for problem in pre.problems:
        r.check(False, problem)
    try:
        return ET.fromstring(text), pre
    except ET.ParseError as err:
        r.check(False, "assembled freeswitch.xml parses: %s" % err)
        return None, pre


def check_freeswitch(r):
    root, pre = assemble(LAB_ENV, r)
    if root is None:
        return None
    r.check(
        root.tag == "document" and root.get("type") == "freeswitch/xml",
        "assembled freeswitch.xml parses",
    )
    sections = [s.get("name") for s in root.findall("section")]
    r.check(
        sorted(sections) == ["configuration", "dialplan", "directory", "languages"],
        "sections %s" % sections,
    )
    check_modules_and_sockets(root, r)
    check_vars(pre, r)
    check_sofia(root, r)
    check_directory(root, r)
    check_dialplan(root, pre, r)
    check_language(root, r)
    check_environment(root, pre, r, "lab")
    host_root, host_pre = assemble(HOST_ENV, r)
    if host_root is not None:
        check_environment(host_root, host_pre, r, "host")
        check_dialplan(host_root, host_pre, r)
    return root


def check_each_file_parses(r):
    bad = []
    for path in sorted(glob.glob(os.path.join(CONF, "**", "*.xml"), recursive=True)):
        try:
            ET.parse(path)
        except ET.ParseError as err:
            bad.append("%s (%s)" % (os.path.relpath(path, CONF), err))
    r.check(not bad, "every XML file parses on its own %s" % bad)


def check_pivot_toml(r):
    try:
        import tomllib
    except ImportError:
        print("skip - pivot.toml (needs Python 3.11's tomllib)")
        return
    with open(os.path.join(HERE, "pivot.toml"), "rb") as f:
        cfg = tomllib.load(f)
    unknown = [k for k in cfg if k not in PIVOT_KEYS[""]]
    for table in ("esl", "api", "store", "http", "media"):
        unknown += ["%s.%s" % (table, k) for k in cfg.get(table, {}) if k not in PIVOT_KEYS[table]]
    for account in cfg.get("accounts", []):
        unknown += ["accounts.%s" % k for k in account if k not in PIVOT_KEYS["accounts"]]
    r.check(not unknown, "pivot.toml uses only accepted keys %s" % unknown)
    r.check(
        cfg.get("esl", {}).get("listen") == "0.0.0.0:%s" % LAB_ENV["PIVOT_PORT"],
        "pivot listens for FreeSWITCH on 0.0.0.0:%s (PIVOT_PORT)" % LAB_ENV["PIVOT_PORT"],
    )
    r.check(cfg.get("api", {}).get("listen") == "0.0.0.0:8000", "REST API on 0.0.0.0:8000")
    check_esl_allow(r, cfg.get("esl", {}).get("allow"))
    ids = [a.get("id", "") for a in cfg.get("accounts", [])]
    r.check(ids and all(HEX32.match(i) for i in ids), "account ids are 32 hex digits")
    r.check(cfg.get("default_account") in ids, "default_account is one of the accounts")
    r.check(
        all(len(a.get("api_key", "")) >= 8 for a in cfg.get("accounts", [])),
        "api keys have 8 characters or more",
    )


def allow_list(entries):
    """pivot's [esl] allow entries as networks (an address is a one-host network); None
    when one does not parse."""
    try:
        return [ipaddress.ip_network(e, strict=False) for e in entries]
    except (TypeError, ValueError):
        return None


def check_esl_allow(r, entries):
    """The lab's event socket trusts FreeSWITCH's container only: explicit host entries."""
    nets = allow_list(entries or [])
    r.check(
        bool(entries) and nets is not None,
        "pivot.toml [esl] allow lists addresses or ranges %s" % entries,
    )
    if nets:
        r.check(
            all(n.num_addresses == 1 for n in nets),
            "pivot.toml [esl] allow names single hosts (FreeSWITCH), not ranges %s" % entries,
        )


def check_compose_allow(r, services, networks):
    """The event socket's peers have fixed addresses in the network's fixed subnet, and each
    pivot config allows exactly its peer: pivot.toml FreeSWITCH, pivot-cluster.toml the
    cluster's load balancer (the nodes see calls coming from it)."""
    try:
        import tomllib
    except ImportError:
        print("skip - the event socket allow list against compose (needs tomllib)")
        return
    ipam = ((networks or {}).get("default") or {}).get("ipam") or {}
    subnets = [c.get("subnet") for c in ipam.get("config", [])]
    for toml_name, peer in (("pivot.toml", "freeswitch"), ("pivot-cluster.toml", "pivot-lb")):
        if peer not in services:
            continue
        with open(os.path.join(HERE, toml_name), "rb") as f:
            allow = allow_list(tomllib.load(f).get("esl", {}).get("allow", [])) or []
        ip = ((services[peer].get("networks") or {}).get("default") or {}).get("ipv4_address")
        try:
            addr = ipaddress.ip_address(ip)
            inside = any(addr in ipaddress.ip_network(s) for s in subnets)
        except (TypeError, ValueError):
            addr, inside = None, False
        r.check(inside, "%s has a fixed address %s in the fixed subnet %s" % (peer, ip, subnets))
        r.check(
            addr is not None
            and bool(allow)
            and all(n == ipaddress.ip_network(addr) for n in allow),
            "%s [esl] allow is exactly %s's address %s" % (toml_name, peer, ip),
        )


def check_compose(r, root):
    try:
        import yaml
    except ImportError:
        print("skip - docker-compose.yml (needs PyYAML)")
        return
    with open(os.path.join(HERE, "docker-compose.yml"), encoding="utf-8") as f:
        compose = yaml.safe_load(f)
    services = compose["services"]
    check_compose_allow(r, services, compose.get("networks"))
    # Services behind a profile (the optional cluster: docs/scaling.md) start only on request.
    default = {name for name, svc in services.items() if not svc.get("profiles")}
    r.check(
        default == {"freeswitch", "pivot", "webapp"},
        "compose services freeswitch, pivot, webapp",
    )
    fs = services["freeswitch"]
    env = {k: str(v) for k, v in (fs.get("environment") or {}).items()}
    differs = [
        k for k, v in LAB_ENV.items() if k != "FS_EXTERNAL_IP" and env.get(k) != v
    ]
    r.check(not differs, "the freeswitch service's environment is the lab's %s" % differs)
    esl = [p for p in fs.get("ports", []) if "8021" in str(p)]
    r.check(
        esl == ["127.0.0.1:8021:8021"],
        "the inbound event socket is published on the host's loopback only %s" % esl,
    )
    mounts = [v for s in services.values() for v in s.get("volumes", []) if v.startswith(".")]
    missing = [m for m in mounts if not os.path.exists(os.path.join(HERE, m.split(":")[0]))]
    r.check(not missing, "bind mounts exist %s" % missing)
    for name in ("pivot", "webapp"):
        context = services[name]["build"]["context"]
        r.check(
            os.path.exists(os.path.join(HERE, context, "Dockerfile")),
            "%s builds from %s/Dockerfile" % (name, context),
        )
    if root is not None:
        core = params(configuration(root, "switch.conf"))
        rtp = "%s-%s:%s-%s/udp" % ((core.get("rtp-start-port"), core.get("rtp-end-port")) * 2)
        r.check(
            rtp in services["freeswitch"].get("ports", []),
            "compose publishes the RTP range %s" % rtp,
        )


def main():
    r = Report()
    check_each_file_parses(r)
    root = check_freeswitch(r)
    check_pivot_toml(r)
    check_compose(r, root)
    print("%d passed, %d failed" % (r.passed, r.failed))
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
