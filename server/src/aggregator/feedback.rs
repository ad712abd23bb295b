//! Surveys and complaints: satisfaction points, complaints opened and
//! answered against their due time.

use jiff::Timestamp;
use wallboard_protocol::Event;

use super::{Aggregator, Complaint};

impl Aggregator {
    /// A survey score, in points, for its queue (given, or the contact's).
    pub(super) fn survey_submitted(
        &mut self,
        contact: Option<&str>,
        queue: Option<&str>,
        score: f64,
        max: Option<f64>,
        ts: Timestamp,
    ) -> Result<(), String> {
        let channel = contact
            .and_then(|c| self.contacts.get(c))
            .map(|c| c.channel);
        let q = match (queue, contact) {
            (Some(queue), _) => Some(self.queue(queue)),
            (None, Some(contact)) => self.contacts.get(contact).and_then(|c| c.queue),
            (None, None) => None,
        };
        let points = Event::survey_points(score, max);
        self.observe(q, "wallboard_survey_points", points);
        self.count_on(q, channel, ts, |c| {
            c.surveys += 1;
            c.survey_points += points;
        });
        Ok(())
    }

    /// A complaint opens with its due time (given, or from its grade).
    pub(super) fn complaint_opened(
        &mut self,
        complaint: &str,
        queue: Option<&str>,
        grade: Option<&str>,
        due: Option<Timestamp>,
        ts: Timestamp,
    ) -> Result<(), String> {
        if self.complaints.contains_key(complaint) {
            return Err(format!("complaint {complaint:?} is already open"));
        }
        let due = match (due, grade) {
            (Some(due), _) => due,
            (None, Some(grade)) => match self.config.complaint_grades.get(grade) {
                Some(deadline) => ts
                    .checked_add(*deadline)
                    .map_err(|e| format!("due time out of range: {e}"))?,
                None => {
                    let known: Vec<_> = self.config.complaint_grades.keys().collect();
                    return Err(format!(
                        "unknown complaint grade {grade:?} (configured: {known:?})"
                    ));
                }
            },
            (None, None) => return Err("complaint_opened needs `grade` or `due`".into()),
        };
        let q = queue.map(|q| self.queue(q));
        self.count(q, ts, |c| c.complaints_opened += 1);
        self.each_scope(q.as_slice(), |b| b.dues.insert(due.as_millisecond()));
        self.complaints.insert(
            complaint.to_string(),
            Complaint {
                queue: q,
                due,
                answered: None,
            },
        );
        Ok(())
    }

    /// On time before `due`; otherwise it was overdue from `due` on and counts there.
    pub(super) fn complaint_answered(
        &mut self,
        complaint: &str,
        ts: Timestamp,
    ) -> Result<(), String> {
        let Some(k) = self.complaints.get_mut(complaint) else {
            return Err(format!("unknown complaint {complaint:?}"));
        };
        if k.answered.is_some() {
            return Err(format!("complaint {complaint:?} has already been answered"));
        }
        k.answered = Some(ts);
        let (q, due) = (k.queue, k.due);
        self.each_scope(q.as_slice(), |b| b.dues.remove(due.as_millisecond()));
        // On time (before `due`): counted when answered. Late: it
        // was overdue from `due` on, and counts there.
        if ts < due {
            self.count(q, ts, |c| c.complaints_on_time += 1);
        } else {
            self.count(q, due, |c| c.complaints_overdue += 1);
        }
        Ok(())
    }
}
