//! How the self-test makes a case's runtime misbehave; see conformance/sabotage.sh.

/// How the self-test makes this case's runtime misbehave (see conformance/sabotage.sh). With the
/// sabotage in place the case must fail: that shows its checks do not pass vacuously.
#[derive(Clone, Copy, Default)]
pub struct Sabotage {
    /// jq filter applied to the bundle's config.json before `create` (the runtime "forgets" or
    /// alters part of the config; the checker still expects the original).
    pub jq: Option<&'static str>,
    /// Shell command run after a successful `create` (env PID, ID, BUNDLE, ROOT, REAL).
    pub post_create: Option<&'static str>,
    /// Shell command run after `delete` (env ID, BUNDLE).
    pub post_delete: Option<&'static str>,
    /// Verbs whose failure is reported as success.
    pub fake_ok: &'static str,
    /// Verbs that do nothing and report success.
    pub noop: &'static str,
    /// jq filter applied to `state` output.
    pub state_jq: Option<&'static str>,
    /// jq predicate on config.json: when true, `create` fails (an over-strict runtime).
    pub reject_if: Option<&'static str>,
    /// Shell command run before `start` (env ID, BUNDLE, ROOT, REAL).
    pub pre_start: Option<&'static str>,
}

pub const fn jq(f: &'static str) -> Sabotage {
    Sabotage {
        jq: Some(f),
        post_create: None,
        post_delete: None,
        fake_ok: "",
        noop: "",
        state_jq: None,
        reject_if: None,
        pre_start: None,
    }
}
pub const fn post_create(cmd: &'static str) -> Sabotage {
    Sabotage {
        post_create: Some(cmd),
        ..jq_none()
    }
}
pub const fn post_delete(cmd: &'static str) -> Sabotage {
    Sabotage {
        post_delete: Some(cmd),
        ..jq_none()
    }
}
pub const fn fake_ok(verbs: &'static str) -> Sabotage {
    Sabotage {
        fake_ok: verbs,
        ..jq_none()
    }
}
pub const fn noop(verbs: &'static str) -> Sabotage {
    Sabotage {
        noop: verbs,
        ..jq_none()
    }
}
pub const fn state_jq(f: &'static str) -> Sabotage {
    Sabotage {
        state_jq: Some(f),
        ..jq_none()
    }
}
pub const fn reject_if(f: &'static str) -> Sabotage {
    Sabotage {
        reject_if: Some(f),
        ..jq_none()
    }
}
pub const fn pre_start(cmd: &'static str) -> Sabotage {
    Sabotage {
        pre_start: Some(cmd),
        ..jq_none()
    }
}
const fn jq_none() -> Sabotage {
    Sabotage {
        jq: None,
        post_create: None,
        post_delete: None,
        fake_ok: "",
        noop: "",
        state_jq: None,
        reject_if: None,
        pre_start: None,
    }
}

impl Sabotage {
    pub fn env(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        let mut put = |k: &str, val: Option<&str>| {
            if let Some(x) = val.filter(|x| !x.is_empty()) {
                v.push((k.to_string(), x.to_string()));
            }
        };
        put("SABOTAGE_JQ", self.jq);
        put("SABOTAGE_POST_CREATE", self.post_create);
        put("SABOTAGE_POST_DELETE", self.post_delete);
        put("SABOTAGE_FAKE_OK", Some(self.fake_ok));
        put("SABOTAGE_NOOP", Some(self.noop));
        put("SABOTAGE_STATE_JQ", self.state_jq);
        put("SABOTAGE_REJECT_IF", self.reject_if);
        put("SABOTAGE_PRE_START", self.pre_start);
        v
    }
}
