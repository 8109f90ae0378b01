// alertmanager.yml: who hears of an alert, and when. Pure; the result holds the receivers'
// credentials, so the component passes it on as a secret only.
import { stringify } from "yaml";

export const ALERTMANAGER_CONFIG_FILE = "/etc/alertmanager/alertmanager.yml";

/** The receivers; `S` is how secrets are carried (text here, Outputs in the component's args). */
export interface Receivers<S = string> {
    email?: { to: string; from: string; smarthost: string; username: string; password?: S };
    webhookUrl?: S;
    slackWebhookUrl?: S;
}

export interface AlertmanagerConfigArgs {
    receivers: Receivers;
    /** The dead-man service pinged while the always-firing Watchdog alert is heard. */
    deadman?: { url: string; intervalSeconds: number };
    groupWaitSeconds: number;
    groupIntervalSeconds: number;
}

/** The receiver of people, and the ones of machines. */
export const PEOPLE = "people";
export const DEADMAN = "deadman";
/** Where alerts go when no receiver is configured (allowed outside prod): they stay visible in Alertmanager only. */
export const NOBODY = "nobody";

/** Whether any receiver reaches a person. */
export function hasPeopleReceiver<S>(r: Receivers<S>): boolean {
    return r.email !== undefined || r.webhookUrl !== undefined || r.slackWebhookUrl !== undefined;
}

/**
 * Consequences silenced while their cause is firing: with Postgres down, its connections and
 * the pool's waiting clients are no news; a stopped container is not also unhealthy or
 * restarting; a failing probe needs no certificate warning for the same URL.
 */
export const INHIBIT_RULES = [
    { source_matchers: ['alertname="PostgresDown"'], target_matchers: ['alertname=~"PostgresConnectionsHigh|PgBouncerClientsWaiting|WalArchivingFailing"'] },
    { source_matchers: ['alertname="ContainerStopped"'], target_matchers: ['alertname=~"ContainerUnhealthy|ContainerRestarting"'], equal: ["name"] },
    { source_matchers: ['alertname="ProbeFailing"'], target_matchers: ['alertname="TlsCertificateExpiring"'], equal: ["instance"] },
];

export function alertmanagerConfig(a: AlertmanagerConfigArgs): string {
    const r = a.receivers;
    const people = hasPeopleReceiver(r) ? PEOPLE : NOBODY;
    const email = r.email;
    const slackText = [
        "{{ range .Alerts }}*{{ .Labels.alertname }}* ({{ .Labels.severity }}, {{ .Status }})",
        "{{ .Annotations.summary }}",
        "{{ .Annotations.description }}",
        "Runbook: {{ .Annotations.runbook }}",
        "{{ end }}",
    ].join("\n");
    const deadmanInterval = `${a.deadman?.intervalSeconds ?? 60}s`;
    return stringify({
        global: {
            resolve_timeout: "5m",
            ...(email
                ? {
                      smtp_smarthost: email.smarthost,
                      smtp_from: email.from,
                      smtp_require_tls: true,
                      ...(email.username !== "" ? { smtp_auth_username: email.username } : {}),
                      ...(email.password !== undefined ? { smtp_auth_password: email.password } : {}),
                  }
                : {}),
        },
        route: {
            receiver: people,
            group_by: ["alertname", "severity"],
            group_wait: `${a.groupWaitSeconds}s`,
            group_interval: `${a.groupIntervalSeconds}s`,
            repeat_interval: "4h",
            routes: [
                // The heartbeat: only the dead-man service hears it, as often as it expects.
                {
                    receiver: a.deadman ? DEADMAN : NOBODY,
                    matchers: ['alertname="Watchdog"'],
                    group_wait: "0s",
                    group_interval: deadmanInterval,
                    repeat_interval: deadmanInterval,
                },
                // Critical: at once, and again every 4 h while it lasts.
                { receiver: people, matchers: ['severity="critical"'], repeat_interval: "4h" },
                // Warning: gathered a little longer, reminded once a day.
                { receiver: people, matchers: ['severity="warning"'], group_wait: `${Math.max(a.groupWaitSeconds, 60)}s`, repeat_interval: "24h" },
            ],
        },
        // Only what follows from the cause is silenced, never a warning about something else.
        inhibit_rules: INHIBIT_RULES,
        receivers: [
            ...(people === PEOPLE
                ? [
                      {
                          name: PEOPLE,
                          ...(email ? { email_configs: [{ to: email.to, send_resolved: true }] } : {}),
                          ...(r.webhookUrl ? { webhook_configs: [{ url: r.webhookUrl, send_resolved: true }] } : {}),
                          ...(r.slackWebhookUrl
                              ? {
                                    slack_configs: [
                                        {
                                            api_url: r.slackWebhookUrl,
                                            send_resolved: true,
                                            title: "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.stack }})",
                                            text: slackText,
                                        },
                                    ],
                                }
                              : {}),
                      },
                  ]
                : []),
            ...(a.deadman ? [{ name: DEADMAN, webhook_configs: [{ url: a.deadman.url, send_resolved: false }] }] : []),
            { name: NOBODY },
        ],
    });
}
