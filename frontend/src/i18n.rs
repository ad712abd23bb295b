//! Simplified Chinese and English: every label on screen, and the choice of
//! language (URL `lang=`, then what the viewer chose last, then the
//! browser's `Accept-Language` order).

use wallboard_protocol::{Channel, ServiceLevelDefinition, Slots};

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
            Occupancy => ("占用率", "Occupancy"),
            _ => return self.t(key.as_str()),
        };
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// A service-level definition's short name, for the tag beside a
    /// service level and the admin's choice.
    pub fn definition(self, definition: ServiceLevelDefinition) -> &'static str {
        use ServiceLevelDefinition::*;
        let (zh, en) = match definition {
            Hotline => ("热线口径", "Hotline"),
            AnsweredOnly => ("仅计接通", "Answered only"),
            AbandonsInThresholdMet => ("阈值内放弃计达标", "Abandons in SL met"),
            Connect => ("Connect口径", "Connect"),
        };
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// A contact channel's name (the floor's "By channel" panel, the
    /// admin's thresholds by channel).
    pub fn channel(self, channel: Channel) -> &'static str {
        let (zh, en) = match channel {
            Channel::Voice => ("语音", "Voice"),
            Channel::Chat => ("在线", "Chat"),
            Channel::Email => ("邮件", "E-mail"),
            Channel::Callback => ("回呼", "Callback"),
        };
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// An agent's slots on a channel, on their card: the channel's name,
    /// then in use / capacity ("Chat 1/3", "在线 1/3").
    pub fn slots(self, channel: Channel, slots: Slots) -> String {
        format!(
            "{} {}/{}",
            self.channel(channel),
            slots.in_use,
            slots.capacity
        )
    }

    /// The same in words, for screen readers and the badge's title.
    pub fn slots_words(self, channel: Channel, slots: Slots) -> String {
        let Slots { capacity, in_use } = slots;
        match self {
            Lang::Zh => format!(
                "{}渠道席位 {capacity} 个，占用 {in_use} 个",
                self.channel(channel)
            ),
            Lang::En => format!(
                "{in_use} of {capacity} {} slots in use",
                self.channel(channel).to_lowercase()
            ),
        }
    }

    /// A tile's figure at the same time yesterday ("Yesterday 85.2%").
    pub fn yesterday(self, value: &str) -> String {
        match self {
            Lang::Zh => format!("昨日同期 {value}"),
            Lang::En => format!("Yesterday {value}"),
        }
    }

    /// How a service-level definition counts (short abandons are out of
    /// every one).
    pub fn definition_formula(self, definition: ServiceLevelDefinition) -> &'static str {
        use ServiceLevelDefinition::*;
        let (zh, en) = match definition {
            Hotline => (
                "阈值内接通 ÷（接通 + 放弃），不计短时放弃",
                "answered within the threshold ÷ (answered + abandoned); short abandons excluded",
            ),
            AnsweredOnly => (
                "阈值内接通 ÷ 接通，放弃不计入；不计短时放弃",
                "answered within the threshold ÷ answered, abandons do not count; short abandons excluded",
            ),
            AbandonsInThresholdMet => (
                "阈值内（接通 + 放弃）÷（接通 + 放弃），即 Asterisk ServiceLevelPerf2；不计短时放弃",
                "(answered + abandoned) within the threshold ÷ (answered + abandoned), as Asterisk's ServiceLevelPerf2; short abandons excluded",
            ),
            Connect => (
                "阈值内离开队列（接通、放弃、申请回拨）÷ 离开队列，即 Amazon Connect；不计短时放弃",
                "removed from the queue within the threshold (answered, abandoned, callback requested) ÷ removed from the queue, as Amazon Connect; short abandons excluded",
            ),
        };
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// A service-level definition in full: its name and how it counts.
    pub fn definition_explained(self, definition: ServiceLevelDefinition) -> String {
        let (name, formula) = (
            self.definition(definition),
            self.definition_formula(definition),
        );
        match self {
            Lang::Zh => format!("{name}：{formula}"),
            Lang::En => format!("{name}: {formula}"),
        }
    }

    /// The tooltip of the projected service level, with the local time
    /// its interval ends at (HH:MM) when known.
    pub fn sl_projected_tip(self, ends: Option<&str>) -> String {
        match (self, ends) {
            (Lang::Zh, Some(at)) => format!(
                "若最近 15 分钟的来话量和处理时长保持不变，本半小时（至 {at}）结束时的服务水平（按队列口径）"
            ),
            (Lang::Zh, None) => "若最近 15 分钟的来话量和处理时长保持不变，本半小时结束时的服务水平（按队列口径）".to_string(),
            (Lang::En, Some(at)) => format!(
                "The service level the current 30-minute interval ends at ({at}) if the last 15 minutes' rates hold, by the queue's definition"
            ),
            (Lang::En, None) => "The service level the current 30-minute interval ends at if the last 15 minutes' rates hold, by the queue's definition".to_string(),
        }
    }

    /// The notice of a TV whose `?layout=` the server does not have.
    pub fn layout_missing(self, name: &str) -> String {
        match self {
            Lang::Zh => format!("未找到布局“{name}”：按本链接的参数显示"),
            Lang::En => format!(
                "Layout “{name}” is not saved on the server: showing this link's own settings"
            ),
        }
    }

    /// The button that drops a live override.
    pub fn reset_to(self, file_value: &str) -> String {
        match self {
            Lang::Zh => format!("恢复为配置文件值（{file_value}）"),
            Lang::En => format!("Reset to file value ({file_value})"),
        }
    }

    /// After a save: how many values changed.
    pub fn saved(self, changes: usize) -> String {
        match (self, changes) {
            (Lang::Zh, n) => format!("已保存 {n} 项修改"),
            (Lang::En, 1) => "Saved 1 change".to_string(),
            (Lang::En, n) => format!("Saved {n} changes"),
        }
    }

    /// The summary over a form whose inputs the page itself refused.
    pub fn fix_fields(self, n: usize) -> String {
        match (self, n) {
            (Lang::Zh, n) => format!("请更正下面 {n} 处输入"),
            (Lang::En, 1) => "Fix the field marked below".to_string(),
            (Lang::En, n) => format!("Fix the {n} fields marked below"),
        }
    }

    /// A layout's link, named for the layout.
    pub fn open_on_tv(self, name: &str) -> String {
        match self {
            Lang::Zh => format!("在电视上打开“{name}”"),
            Lang::En => format!("Open “{name}” on a TV"),
        }
    }

    /// The order buttons of a list item.
    pub fn move_item(self, what: &str, up: bool) -> String {
        match (self, up) {
            (Lang::Zh, true) => format!("上移“{what}”"),
            (Lang::Zh, false) => format!("下移“{what}”"),
            (Lang::En, true) => format!("Move {what} up"),
            (Lang::En, false) => format!("Move {what} down"),
        }
    }

    /// A deleted or saved layout, by name.
    pub fn layout_done(self, name: &str, saved: bool) -> String {
        match (self, saved) {
            (Lang::Zh, true) => format!("已保存布局“{name}”"),
            (Lang::Zh, false) => format!("已删除布局“{name}”"),
            (Lang::En, true) => format!("Layout “{name}” saved"),
            (Lang::En, false) => format!("Layout “{name}” deleted"),
        }
    }

    /// A page turn's pace, in the preview.
    pub fn every_seconds(self, seconds: u64) -> String {
        match self {
            Lang::Zh => format!("每页 {seconds} 秒"),
            Lang::En => format!("{seconds} s a page"),
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
            // Callbacks and foresight (the queue table, a tile, the strip).
            "callbacks_pending" => ("待回拨", "Callbacks"),
            "tip_callbacks" => (
                "已申请回拨、尚未回拨的来电",
                "Callers who asked to be called back and are not yet called",
            ),
            "agents_needed" => ("所需座席", "Agents needed"),
            "tip_agents_needed" => (
                "按最近 15 分钟的来话量和处理时长（Erlang C）达到服务水平目标所需的最少座席 / 在岗座席（空闲、通话中、话后处理）",
                "The fewest agents that meet the service-level target, by Erlang C from the last 15 minutes' arrivals and handle time / agents staffed (available, on a call or in wrap-up)",
            ),
            "estimated_wait" => ("预计等待", "Est. wait"),
            "tip_estimated_wait" => (
                "现在进线的来电预计等待时长：（排队数 + 1）÷ 最近 15 分钟的接听速率，最长 1 小时",
                "The wait of a caller joining now: (waiting + 1) ÷ the last 15 minutes' answer rate, at most an hour",
            ),
            "sl_projected" => ("预计服务水平", "SL projected"),
            "staffed" => ("在岗", "staffed"),
            "short_staffed" => ("人手不足", "Short-staffed"),
            "enough_staff" => ("人手充足", "Enough staff"),
            "wait_probability" => ("排队概率", "Chance of waiting"),
            "tip_wait_probability" => (
                "按 Erlang C，在岗座席下来电需要排队的概率",
                "Erlang C's chance that a caller waits, with the agents staffed",
            ),
            "service_level_definition" => ("服务水平口径", "Service-level definition"),
            "need_definition" => ("请选择服务水平口径", "Choose a definition"),
            // Same time yesterday (the tiles) and the channels (a panel).
            "tip_yesterday" => (
                "昨日零点至昨日此刻的同一指标",
                "The same figure yesterday, from midnight to this time of day",
            ),
            "by_channel" => ("分渠道", "By channel"),
            "channel" => ("渠道", "Channel"),
            // The interval report (`?view=intervals`).
            "intervals_link" => ("时段报表", "Intervals"),
            "intervals_title" => ("时段报表", "Interval report"),
            "interval" => ("时段", "Interval"),
            "iv_offered" => ("呼入量", "Offered"),
            "iv_answered" => ("接通量", "Answered"),
            "iv_abandoned" => ("放弃量", "Abandoned"),
            "iv_asa" => ("平均应答", "ASA"),
            "iv_aht" => ("平均处理", "AHT"),
            "interval_size" => ("时段长度", "Interval length"),
            "30m" => ("30分钟", "30 min"),
            "day" => ("日期", "Day"),
            "yesterday" => ("昨日", "Yesterday"),
            "download_csv" => ("下载 CSV", "Download CSV"),
            "intervals_error" => ("无法读取时段报表：", "Cannot load the interval report: "),
            "intervals_unreadable" => (
                "服务器返回的报表无法识别",
                "the server's answer is not a report",
            ),
            "no_intervals" => ("该日暂无时段数据", "No intervals for this day yet"),
            "back_to_board" => ("返回看板", "Back to the wallboard"),
            "updated_at" => ("更新于", "Updated"),
            "showing_previous" => ("显示的是上次读取的数据", "Showing the last report read"),
            // The admin's thresholds by channel.
            "channel_thresholds" => ("分渠道服务水平时限", "Service level by channel"),
            "channel_thresholds_hint" => (
                "留空：不单独设置（按服务水平时限）；语音按服务水平时限",
                "Empty: not set (the service-level threshold applies); voice uses the service-level threshold",
            ),

            // Broadcast messages: the severity in words (not colour alone).
            "msg_info" => ("通知", "Info"),
            "msg_warning" => ("注意", "Warning"),
            "msg_urgent" => ("紧急", "Urgent"),
            // The admin page.
            "admin_title" => ("看板管理", "Wallboard admin"),
            "sec_targets" => ("目标值", "Targets"),
            "sec_queues" => ("队列设置", "Queues"),
            "sec_grades" => ("投诉答复时限", "Complaint deadlines"),
            "sec_message" => ("广播消息", "Broadcast message"),
            "sec_layouts" => ("屏幕布局", "Layouts"),
            "sec_audit" => ("修改记录", "Audit"),
            "save" => ("保存", "Save"),
            "live_override" => ("在线修改", "live override"),
            "none_in_file" => ("无", "none"),
            "vip_target" => ("VIP 目标", "VIP target"),
            "warn_band" => ("预警区间", "Warning band"),
            "service_level_seconds" => ("服务水平时限", "Service-level threshold"),
            "short_abandon_seconds" => ("短时放弃阈值", "Short-abandon threshold"),
            "unit_seconds" => ("秒", "s"),
            "unit_hours" => ("小时", "h"),
            "unit_points" => ("分", "points"),
            "name_zh" => ("中文名称", "Chinese name"),
            "name_en" => ("英文名称", "English name"),
            "vip_queue" => ("VIP 队列", "VIP queue"),
            "grade" => ("等级", "Grade"),
            "due_hours" => ("答复时限", "due within"),
            "no_grades" => ("未配置投诉等级", "No complaint grades configured"),
            "msg_text_en" => ("英文内容", "Text (English)"),
            "msg_text_zh" => ("中文内容", "Text (Chinese)"),
            "severity" => ("级别", "Severity"),
            "duration_minutes" => ("显示时长（分钟）", "Duration (minutes)"),
            "send" => ("发送", "Send"),
            "active_messages" => ("当前消息", "Active messages"),
            "no_messages" => ("当前没有消息", "No messages up"),
            "delete" => ("删除", "Delete"),
            "until" => ("截至", "until"),
            "sent" => ("已发送", "Sent"),
            "deleted" => ("已删除", "Deleted"),
            "saved_layouts" => ("已保存的布局", "Saved layouts"),
            "no_layouts" => ("还没有保存的布局", "No layouts saved yet"),
            "edit" => ("编辑", "Edit"),
            "new_layout" => ("新建布局", "New layout"),
            "edit_layout" => ("编辑布局", "Edit a layout"),
            "layout_name" => ("布局名称", "Layout name"),
            "pages" => ("页面（按顺序）", "Pages (in order)"),
            "tiles" => ("指标卡片（按顺序）", "KPI tiles (in order)"),
            "tiles_hint" => ("一项都不勾选：显示全部卡片", "None checked: every tile"),
            "pages_hint" => ("一项都不勾选：按链接参数", "None checked: as the link says"),
            "layout_queues" => ("显示的队列", "Queues shown"),
            "queues_hint" => ("一项都不勾选：全部队列", "None checked: every queue"),
            "rotate_seconds" => ("翻页间隔（秒）", "Seconds per page"),
            "window" => ("统计时段", "Window"),
            "language" => ("语言", "Language"),
            "theme" => ("主题", "Theme"),
            "theme_dark" => ("深色", "Dark"),
            "theme_light" => ("浅色", "Light"),
            "from_link" => ("按链接参数", "As the link says"),
            "lang_zh" => ("中文", "Chinese"),
            "lang_en" => ("英文", "English"),
            "preview" => ("预览", "Preview"),
            "all_queues" => ("全部队列", "Every queue"),
            "own_pace" => ("自动翻页", "at its own pace"),
            "when" => ("时间", "When"),
            "by" => ("操作人", "By"),
            "setting" => ("设置项", "Setting"),
            "change" => ("修改", "Change"),
            "file_value" => ("配置文件值", "file value"),
            "no_audit" => ("暂无修改记录", "No changes yet"),
            "reload_config" => ("重新读取配置文件", "Reload config file"),
            "needs_restart" => ("需重启才能生效：", "Needs a restart: "),
            "read_only" => ("只读：", "Read-only: "),
            "need_number" => ("请输入数字", "Enter a number"),
            "need_whole" => ("请输入整秒数", "Enter whole seconds"),
            "bad_layout_name" => (
                "名称为 1–64 个字母、数字、“-”或“_”",
                "1–64 letters, digits, - or _",
            ),
            "unchanged" => ("没有需要保存的修改", "Nothing changed"),
            "not_saved" => ("未保存：", "Not saved: "),
            "loading" => ("加载中…", "Loading…"),
            "yes" => ("是", "yes"),
            "no" => ("否", "no"),
            "network_error" => ("无法连接服务器", "Cannot reach the server"),
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
            "msg_info",
            "msg_warning",
            "msg_urgent",
            "admin_title",
            "sec_targets",
            "sec_queues",
            "sec_grades",
            "sec_message",
            "sec_layouts",
            "sec_audit",
            "save",
            "live_override",
            "vip_target",
            "warn_band",
            "service_level_seconds",
            "short_abandon_seconds",
            "unit_seconds",
            "unit_hours",
            "unit_points",
            "name_zh",
            "name_en",
            "vip_queue",
            "grade",
            "due_hours",
            "msg_text_en",
            "msg_text_zh",
            "severity",
            "duration_minutes",
            "send",
            "active_messages",
            "no_messages",
            "delete",
            "saved_layouts",
            "new_layout",
            "layout_name",
            "pages",
            "tiles",
            "tiles_hint",
            "layout_queues",
            "rotate_seconds",
            "window",
            "language",
            "theme",
            "theme_dark",
            "theme_light",
            "from_link",
            "preview",
            "all_queues",
            "file_value",
            "no_audit",
            "reload_config",
            "read_only",
            "need_number",
            "need_whole",
            "bad_layout_name",
            "unchanged",
            "not_saved",
            "network_error",
            "yes",
            "no",
            "edit",
            "edit_layout",
            "sent",
            "deleted",
            "until",
            "own_pace",
            "when",
            "by",
            "setting",
            "change",
            "loading",
            "no_layouts",
            "no_grades",
            "pages_hint",
            "queues_hint",
            "lang_zh",
            "lang_en",
            "needs_restart",
            "none_in_file",
            "callbacks_pending",
            "tip_callbacks",
            "agents_needed",
            "tip_agents_needed",
            "estimated_wait",
            "tip_estimated_wait",
            "sl_projected",
            "staffed",
            "short_staffed",
            "enough_staff",
            "wait_probability",
            "tip_wait_probability",
            "service_level_definition",
            "need_definition",
            "tip_yesterday",
            "by_channel",
            "channel",
            "intervals_link",
            "intervals_title",
            "interval",
            "iv_offered",
            "iv_answered",
            "iv_abandoned",
            "iv_asa",
            "iv_aht",
            "interval_size",
            "30m",
            "day",
            "yesterday",
            "download_csv",
            "intervals_error",
            "intervals_unreadable",
            "no_intervals",
            "back_to_board",
            "updated_at",
            "showing_previous",
            "channel_thresholds",
            "channel_thresholds_hint",
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
        for name in ServiceLevelDefinition::names() {
            let d = ServiceLevelDefinition::parse(name).unwrap();
            assert_ne!(Lang::Zh.definition(d), Lang::En.definition(d), "{name}");
            for lang in [Lang::Zh, Lang::En] {
                assert!(lang.definition_explained(d).starts_with(lang.definition(d)));
            }
        }
        for name in Channel::names() {
            let channel = Channel::parse(name).unwrap();
            assert_ne!(
                Lang::Zh.channel(channel),
                Lang::En.channel(channel),
                "{name}"
            );
        }
        assert_eq!(Lang::En.channel(Channel::Email), "E-mail");
        assert_eq!(Lang::Zh.channel(Channel::Chat), "在线");
        let slots = Slots {
            capacity: 3,
            in_use: 1,
        };
        assert_eq!(Lang::En.slots(Channel::Chat, slots), "Chat 1/3");
        assert_eq!(Lang::Zh.slots(Channel::Chat, slots), "在线 1/3");
        assert_eq!(
            Lang::En.slots_words(Channel::Chat, slots),
            "1 of 3 chat slots in use"
        );
        assert_eq!(
            Lang::Zh.slots_words(Channel::Chat, slots),
            "在线渠道席位 3 个，占用 1 个"
        );
        assert_ne!(
            Lang::Zh.column(wallboard_protocol::KpiKey::Occupancy),
            Lang::En.column(wallboard_protocol::KpiKey::Occupancy)
        );
        assert_eq!(Lang::En.yesterday("85.2%"), "Yesterday 85.2%");
        assert_eq!(Lang::Zh.yesterday("—"), "昨日同期 —");
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
