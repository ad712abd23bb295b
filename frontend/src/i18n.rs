//! Simplified Chinese and English: every label on screen, and the choice of
//! language (URL `lang=`, then what the viewer chose last, then the
//! browser's `Accept-Language` order).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn parse(code: &str) -> Option<Lang> {
        let code = code.trim().to_ascii_lowercase();
        if code.starts_with("zh") {
            Some(Lang::Zh)
        } else if code.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The first of the browser's preferred languages we speak.
    pub fn from_preferences<'a>(codes: impl IntoIterator<Item = &'a str>) -> Lang {
        codes.into_iter().find_map(Lang::parse).unwrap_or(Lang::En)
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// An aux reason as the platform sent it, in this language when it is
    /// one of the usual ones; otherwise as given.
    pub fn reason(self, reason: &str) -> String {
        let known = match reason.trim().to_ascii_lowercase().as_str() {
            "break" => Some(("休息", "Break")),
            "lunch" => Some(("午餐", "Lunch")),
            "meeting" => Some(("会议", "Meeting")),
            "training" => Some(("培训", "Training")),
            "coaching" => Some(("辅导", "Coaching")),
            "admin" | "after_call_work" | "paperwork" => Some(("事务处理", "Admin")),
            _ => None,
        };
        match (known, self) {
            (Some((zh, _)), Lang::Zh) => zh.to_string(),
            (Some((_, en)), Lang::En) => en.to_string(),
            (None, _) => reason.to_string(),
        }
    }

    /// A KPI's short name, for a table column that must fit on a TV.
    pub fn column(self, key: wallboard_protocol::KpiKey) -> &'static str {
        use wallboard_protocol::KpiKey::*;
        let (zh, en) = match key {
            AgentConnectRate => ("接通率", "Connect"),
            ServiceLevel => ("服务水平", "Svc level"),
            AbandonRate => ("放弃率", "Abandon"),
            AsaSeconds => ("应答时长", "ASA"),
            AhtSeconds => ("处理时长", "AHT"),
            _ => return self.t(key.as_str()),
        };
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// A label by key; blank for a key it does not know.
    pub fn t(self, key: &str) -> &'static str {
        let (zh, en) = match key {
            "title" => ("呼叫中心实时看板", "Contact center wallboard"),
            "system_connect_rate" => ("系统接通率", "System connect rate"),
            "agent_connect_rate" => ("人工接通率", "Agent connect rate"),
            "fcr" => ("一次性问题解决率", "First-call resolution"),
            "satisfaction" => ("满意度", "Satisfaction"),
            "complaint_response_rate" => ("投诉答复率", "Complaint response"),
            "service_level" => ("服务水平", "Service level"),
            "abandon_rate" => ("放弃率", "Abandon rate"),
            "asa_seconds" => ("平均应答时长", "Avg. speed of answer"),
            "aht_seconds" => ("平均处理时长", "Avg. handle time"),
            "occupancy" => ("座席占用率", "Occupancy"),
            "target" => ("目标", "Target"),
            "ok" => ("达标", "On target"),
            "warn" => ("预警", "Warning"),
            "breach" => ("未达标", "Breach"),
            "none" => ("暂无数据", "No data"),
            "today" => ("今日", "Today"),
            "60m" => ("60分钟", "60 min"),
            "15m" => ("15分钟", "15 min"),
            "queues" => ("队列", "Queues"),
            "queue" => ("队列", "Queue"),
            "waiting" => ("排队", "Waiting"),
            "longest_wait" => ("最长等待", "Longest wait"),
            "connect_vs_target" => ("接通率 / 目标", "Connect / target"),
            "agents" => ("座席", "Agents"),
            "available" => ("空闲", "Available"),
            "on_contact" => ("通话中", "On call"),
            "wrap_up" => ("话后处理", "Wrap-up"),
            "aux" => ("小休", "Aux"),
            "offline" => ("离线", "Offline"),
            "live" => ("实时", "Live"),
            "updated_ago" => ("秒前更新", "s ago"),
            "stale" => ("数据延迟", "Stale"),
            "connecting" => ("连接中…", "Connecting…"),
            "reconnecting" => ("重新连接中…", "Reconnecting…"),
            "source_down" => ("数据源中断：", "Source down:"),
            "complaints_open" => ("未结投诉", "Open complaints"),
            "complaints_overdue" => ("逾期投诉", "Overdue"),
            "sound_on" => ("提示音：开", "Sound: on"),
            "sound_off" => ("提示音：关", "Sound: off"),
            "offered" => ("呼入", "Offered"),
            "answered" => ("接听", "Answered"),
            "abandoned" => ("放弃", "Abandoned"),
            "team_connect" => ("本组接通率", "Team connect rate"),
            "overview" => ("总览", "Overview"),
            "vip" => ("VIP", "VIP"),
            "no_agents" => ("暂无座席", "No agents signed in"),
            "no_queues" => ("暂无队列", "No queues yet"),
            "over_limit" => ("超时", "Over limit"),
            "alerts" => ("告警记录", "Alerts"),
            "no_alerts" => ("本屏启动以来无告警", "No alerts since this screen started"),
            "recovered" => ("已恢复", "recovered"),
            "reason" => ("原因：", "Reason: "),
            _ => return "",
        };
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_pick_the_first_language_we_speak() {
        assert_eq!(Lang::from_preferences(["fr-FR", "zh-CN", "en"]), Lang::Zh);
        assert_eq!(Lang::from_preferences(["en-US", "zh"]), Lang::En);
        assert_eq!(Lang::from_preferences(["de"]), Lang::En);
        assert_eq!(Lang::parse("ZH-hans"), Some(Lang::Zh));
    }

    #[test]
    fn every_label_exists_in_both_languages() {
        for key in [
            "title",
            "ok",
            "warn",
            "breach",
            "none",
            "today",
            "15m",
            "60m",
            "available",
            "on_contact",
            "wrap_up",
            "aux",
            "offline",
            "live",
            "reconnecting",
            "stale",
            "waiting",
            "source_down",
            "over_limit",
            "reason",
            "alerts",
            "no_alerts",
            "recovered",
            "offered",
            "answered",
            "abandoned",
        ] {
            assert!(!Lang::Zh.t(key).is_empty(), "{key}");
            assert!(!Lang::En.t(key).is_empty(), "{key}");
            assert_ne!(Lang::Zh.t(key), Lang::En.t(key), "{key} is translated");
        }
        for key in wallboard_protocol::KpiKey::ALL {
            let key = key.as_str();
            assert!(!Lang::Zh.t(key).is_empty(), "{key} has a Chinese label");
            assert!(!Lang::En.t(key).is_empty(), "{key} has an English label");
            assert_ne!(Lang::Zh.t(key), Lang::En.t(key), "{key} is translated");
        }
        assert_eq!(Lang::En.t("no such label"), "");
        assert_eq!(Lang::Zh.reason("meeting"), "会议");
        assert_eq!(Lang::En.reason("Meeting"), "Meeting");
        assert_eq!(
            Lang::Zh.reason("外呼回访"),
            "外呼回访",
            "unknown reasons as given"
        );
    }
}
