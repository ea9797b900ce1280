// Validates KEDA resources against the schemas @kubernetes-models/keda ships (generated from KEDA's API types).
// stdin: a JSON array of resources; stdout: a JSON array with one list of error strings per resource (empty: valid).
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication";
import { readFileSync } from "node:fs";

const models = { ScaledObject, TriggerAuthentication };
const resources = JSON.parse(readFileSync(0, "utf8"));
const results = resources.map((resource) => {
  const Model = models[resource.kind];
  if (!Model || resource.apiVersion !== "keda.sh/v1alpha1") {
    return [`no KEDA schema for ${resource.apiVersion} ${resource.kind}`];
  }
  try {
    new Model(resource).validate();
    return [];
  } catch (error) {
    return [String(error.message ?? error)];
  }
});
process.stdout.write(JSON.stringify(results));
