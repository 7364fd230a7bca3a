import { APP_JOB_TYPES } from '../../jobs/types';
import { BUILTIN_JOB_TYPES } from '../../services/queue/job-types';
import { openApiDocument } from '../../shared/openapi';

/**
 * The OpenAPI document this deployment serves at `GET /openapi.json`: the route table and its
 * valibot schemas (lambda/shared/openapi.ts) with the job types `POST /jobs` accepts, built-in
 * and the app's. One source for both places that produce it: the api stack writes it beside the
 * api function's bundle at synth (the bundle then carries no generator), and the api handler
 * generates it on its first `GET /openapi.json` when run from source (the local stack, tests).
 */
export function deploymentOpenApi(): Record<string, unknown> {
  return openApiDocument({ jobTypes: BUILTIN_JOB_TYPES.with(...APP_JOB_TYPES).enqueueable() });
}
