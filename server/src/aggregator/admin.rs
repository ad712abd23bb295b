//! The admin family: live settings, broadcast messages and saved layouts,
//! applied from the server-written events in order with the platform's
//! (so a replay, and every node of a cluster, ends with the same ones).
//!
//! Times come from the events (`ts`), never a clock: a message counts as
//! up while `ts < until`, and expired ones are forgotten at the next admin
//! event, so the state is the same wherever it is replayed. Screens drop a
//! message at its `until` by the board's own clock (`kpi`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wallboard_protocol::admin::{
    AuditEntry, Layout, MAX_AUDIT, MAX_LAYOUTS, MAX_MESSAGES, Message, check_layout_name,
};

use super::Aggregator;
use crate::config::Config;
use crate::settings;

/// What the admin changes built: checkpointed with the aggregate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AdminState {
    /// The live overrides (SETTINGS shape, only what was changed).
    pub overrides: Value,
    /// Settings changes, oldest first, at most [`MAX_AUDIT`].
    pub audit: VecDeque<AuditEntry>,
    /// Messages by id (expired ones until the next admin event).
    pub messages: BTreeMap<String, Message>,
    pub layouts: BTreeMap<String, Layout>,
}

impl AdminState {
    /// The messages up at `at`, oldest first.
    pub fn messages_at(&self, at: Timestamp) -> Vec<Message> {
        let mut up: Vec<Message> = self
            .messages
            .values()
            .filter(|m| m.since <= at && at < m.until)
            .cloned()
            .collect();
        up.sort_by(|a, b| (a.since, &a.id).cmp(&(b.since, &b.id)));
        up
    }

    /// The messages up at `at` as screens get them: without who posted
    /// (a token's name is for the admin API and the audit, not for every
    /// kiosk and desk).
    pub fn messages_shown_at(&self, at: Timestamp) -> Vec<Message> {
        let mut up = self.messages_at(at);
        for m in &mut up {
            m.by.clear();
        }
        up
    }
}

impl Aggregator {
    /// The file's config (before live overrides).
    pub fn base_config(&self) -> &Arc<Config> {
        &self.base
    }

    pub fn admin(&self) -> &AdminState {
        &self.admin
    }

    /// A settings change: the merge patch over the live overrides, checked
    /// by the file's rules (an error names the settings path: nothing
    /// changes), audited with who and when. Every queue's row is
    /// recomputed at the next step: targets, statuses and names move.
    pub(super) fn settings_changed(
        &mut self,
        by: &str,
        patch: &Value,
        ts: Timestamp,
    ) -> Result<(), String> {
        settings::check_patch(patch).map_err(|e| e.to_string())?;
        let overrides = settings::merge(&self.admin.overrides, patch);
        let config = settings::apply(&self.base, &overrides).map_err(|e| e.to_string())?;
        let old = settings::effective(&self.config);
        let new = settings::effective(&config);
        for (path, old, new) in settings::changes(patch, &old, &new) {
            if self.admin.audit.len() == MAX_AUDIT {
                self.admin.audit.pop_front();
            }
            self.admin.audit.push_back(AuditEntry {
                at: ts,
                by: by.to_string(),
                path,
                old,
                new,
            });
        }
        self.admin.overrides = overrides;
        self.set_config(Arc::new(config));
        self.forget_expired(ts);
        Ok(())
    }

    /// A new file config (a reload): the live overrides laid over it anew.
    /// On `Err` (they no longer hold under the file) nothing changes.
    pub fn set_base(&mut self, base: Arc<Config>) -> Result<(), String> {
        let config = settings::apply(&base, &self.admin.overrides).map_err(|e| e.to_string())?;
        self.base = base;
        self.set_config(Arc::new(config));
        Ok(())
    }

    /// Runs with `config` from now on; every queue is recomputed.
    fn set_config(&mut self, config: Arc<Config>) {
        self.config = config;
        self.dirty.all_queues = true;
    }

    /// The overrides of a restored checkpoint over this server's file.
    pub(super) fn restore_admin(&mut self, admin: AdminState) {
        self.admin = admin;
        if !self.admin.overrides.is_object() {
            self.admin.overrides = Value::Object(Default::default());
        }
        match settings::apply(&self.base, &self.admin.overrides) {
            Ok(config) => self.set_config(Arc::new(config)),
            Err(e) => {
                // Not kept: overrides that are not in effect would show as
                // live and refuse every later change.
                tracing::error!(error = %e, overrides = %self.admin.overrides,
                    "the checkpoint's live settings do not hold under this config file; dropped, running with the file's");
                self.admin.overrides = Value::Object(Default::default());
                self.set_config(self.base.clone());
            }
        }
    }

    fn forget_expired(&mut self, ts: Timestamp) {
        self.admin.messages.retain(|_, m| m.until > ts);
    }

    pub(super) fn message_posted(
        &mut self,
        message: &Message,
        ts: Timestamp,
    ) -> Result<(), String> {
        message.validate()?;
        self.forget_expired(ts);
        if self.admin.messages.contains_key(&message.id) {
            return Err(format!("field `id`: message {:?} exists", message.id));
        }
        if self.admin.messages.len() >= MAX_MESSAGES {
            return Err(format!(
                "{MAX_MESSAGES} messages are up already: delete one first"
            ));
        }
        self.admin
            .messages
            .insert(message.id.clone(), message.clone());
        Ok(())
    }

    pub(super) fn message_deleted(&mut self, id: &str, ts: Timestamp) -> Result<(), String> {
        self.forget_expired(ts);
        self.admin
            .messages
            .remove(id)
            .map(drop)
            .ok_or_else(|| format!("no message {id:?} is up"))
    }

    pub(super) fn layout_saved(
        &mut self,
        name: &str,
        layout: &Layout,
        ts: Timestamp,
    ) -> Result<(), String> {
        check_layout_name(name)?;
        layout.validate()?;
        if !self.admin.layouts.contains_key(name) && self.admin.layouts.len() >= MAX_LAYOUTS {
            return Err(format!("{MAX_LAYOUTS} layouts are saved already"));
        }
        self.admin.layouts.insert(name.to_string(), layout.clone());
        self.forget_expired(ts);
        Ok(())
    }

    pub(super) fn layout_deleted(&mut self, name: &str, ts: Timestamp) -> Result<(), String> {
        self.forget_expired(ts);
        self.admin
            .layouts
            .remove(name)
            .map(drop)
            .ok_or_else(|| format!("no layout {name:?}"))
    }
}
