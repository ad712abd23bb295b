// Type-checks the provisioned Grafana dashboards against the dashboard model
// of @grafana/schema (`npm ci && npx tsc -p .` in this folder).
//
// TypeScript types an imported JSON file with widened primitives ("stat"
// becomes string, 1 becomes number), so the schema's string-literal unions and
// enums (e.g. thresholds mode "absolute" | "percentage") cannot match a JSON
// import as such. `Widened<T>` maps those to their primitive type and keeps
// everything else: object shapes, required fields, arrays, and the primitive
// type of every field. A field of the wrong type (a string where the schema has
// a number, an object where it has an array, a null where null is not allowed),
// or a missing required field (a panel's `type`, `gridPos.h`, a row's `panels`,
// `fieldConfig.overrides`) fails the check.
import type { Dashboard } from "@grafana/schema";

import contactCenter from "../dashboards/contact-center.json";
import serviceHealth from "../dashboards/service-health.json";

type Widened<T> = T extends string
  ? string
  : T extends number
    ? number
    : T extends boolean
      ? boolean
      : T extends null | undefined
        ? T
        : T extends ReadonlyArray<infer U>
          ? Array<Widened<U>>
          : T extends object
            ? { [K in keyof T]: Widened<T[K]> }
            : T;

export type DashboardJson = Widened<Dashboard>;

export const dashboards: Record<string, DashboardJson> = {
  "contact-center.json": contactCenter,
  "service-health.json": serviceHealth,
};
