import { type JsonSchema, toJsonSchemaDefs } from '@valibot/to-json-schema';
import * as S from './api-schemas';
import { type QueryParam, ROUTES, type RouteDefinition, routeKey } from './routes';
import { JSON_SCHEMA_OF, type Schema } from './validation';

/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the route table and its valibot
 * schemas (./routes.ts, ./api-schemas.ts): the same schemas the api function checks bodies with,
 * so the document cannot drift from what is enforced. Served at `GET /openapi.json`; every answer
 * of the end-to-end suite is validated against it.
 */

/** A job type as the document lists it under `POST /jobs`. */
export interface DocumentedJobType {
  readonly type: string;
  readonly scope: string;
  readonly summary: string;
  /** The payload check, with its valibot schema when it was made from one. */
  readonly payload: { readonly schema?: Schema };
}

/** Options of {@link openApiDocument}. */
export interface OpenApiOptions {
  /** @default ROUTES */
  readonly routes?: readonly RouteDefinition[];
  /** The job types `POST /jobs` accepts (listed in `x-job-types`). @default - none listed */
  readonly jobTypes?: readonly DocumentedJobType[];
  /** @default '0.1.0' */
  readonly version?: string;
}

type Json = Record<string, unknown>;

/** Schemas published as components, by name: the body and answer schemas of the table. */
const COMPONENTS: Readonly<Record<string, Schema>> = {
  Error: S.ErrorResponse,
  GatewayError: S.GatewayErrorResponse,
  Health: S.HealthResponse,
  CacheValue: S.CacheValueResponse,
  CacheStored: S.CacheStoredResponse,
  CacheDeleted: S.CacheDeletedResponse,
  CacheBatch: S.CacheBatchResponse,
  CacheBatchRequest: S.CacheBatchBody,
  Invalidate: S.InvalidateResponse,
  InvalidateRequest: S.InvalidateBody,
  NamespaceInvalidated: S.NamespaceInvalidatedResponse,
  Session: S.SessionResponse,
  SessionList: S.SessionListResponse,
  SessionDeleted: S.SessionDeletedResponse,
  SessionsRevoked: S.SessionsRevokedResponse,
  CreateSessionRequest: S.CreateSessionBody,
  UpdateSessionRequest: S.UpdateSessionBody,
  RateLimit: S.RateLimitResponse,
  RateLimitCleared: S.RateLimitClearedResponse,
  CheckLimitRequest: S.CheckLimitBody,
  RefundLimitRequest: S.RefundLimitBody,
  Enqueued: S.EnqueuedResponse,
  EnqueueRequest: S.EnqueueBody,
  Job: S.JobResponse,
  JobPage: S.JobPageResponse,
  Redriven: S.RedrivenResponse,
  RedriveRequest: S.RedriveBody,
  Stats: S.StatsResponse,
  OpenApi: S.OpenApiResponse,
};

const CONVERSION = {
  target: 'draft-2020-12',
  // Checks in code (a key's characters, "get or set") have no JSON Schema form: their rule is in
  // the description, and the api function enforces them.
  errorMode: 'ignore',
  overrideSchema: ({ valibotSchema }: { valibotSchema: unknown }) =>
    JSON_SCHEMA_OF.get(valibotSchema as Schema) as JsonSchema | undefined,
} as const;

/** JSON Schema of a valibot schema, its named parts as `#/components/schemas/<name>` references. */
function convert(schema: Schema, defs: Readonly<Record<string, Schema>>): Json {
  const name = Object.keys(defs).find((n) => defs[n] === schema);
  if (name) return { $ref: `#/components/schemas/${name}` };
  const {
    $defs: _defs,
    $schema: _schema,
    ...rest
  } = toJsonSchemaDefs({ it: schema, ...defs }, CONVERSION).it as Json;
  return relink(rest) as Json;
}

/** `#/$defs/<name>` references (what the converter writes) as `#/components/schemas/<name>`. */
function relink(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(relink);
  if (value === null || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      k === '$ref' && typeof v === 'string' ? v.replace('#/$defs/', '#/components/schemas/') : relink(v);
  }
  return out;
}

function paramSchema(param: QueryParam): Json {
  if (param.type === 'integer') return { type: 'integer', minimum: param.min, maximum: param.max };
  if (param.type === 'enum') return { type: 'string', enum: [...param.values] };
  return { type: 'string', pattern: param.pattern.source };
}

const operationId = (route: RouteDefinition): string =>
  route.method.toLowerCase() +
  route.path
    .split(/[/{}.-]+/)
    .filter(Boolean)
    .map((part) => part[0]?.toUpperCase() + part.slice(1))
    .join('');

const rateLimitHeaders = {
  'RateLimit-Limit': { $ref: '#/components/headers/RateLimit-Limit' },
  'RateLimit-Remaining': { $ref: '#/components/headers/RateLimit-Remaining' },
  'RateLimit-Reset': { $ref: '#/components/headers/RateLimit-Reset' },
};

const errorResponse = (description: string, extra: Json = {}): Json => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  ...extra,
});

/**
 * What any route may answer besides its own responses: the api function's errors, and what API
 * Gateway answers itself before any function runs (a malformed request, a body over 10 MB,
 * headers over 10 KB, its stage throttle, a missing or unknown key).
 */
function errorsOf(route: RouteDefinition): Record<string, unknown> {
  const responses: Record<string, unknown> = {
    '400': { $ref: '#/components/responses/BadRequest' },
    '413': { $ref: '#/components/responses/PayloadTooLarge' },
    '429': { $ref: '#/components/responses/TooManyRequests' },
    '431': { $ref: '#/components/responses/HeadersTooLarge' },
    '500': { $ref: '#/components/responses/InternalError' },
    '503': { $ref: '#/components/responses/Unavailable' },
  };
  if (route.body) responses['415'] = { $ref: '#/components/responses/UnsupportedMediaType' };
  if (route.auth) {
    responses['401'] = { $ref: '#/components/responses/Unauthorized' };
    responses['403'] = { $ref: '#/components/responses/Forbidden' };
  }
  if (route.auth && route.method !== 'GET') {
    responses['409'] = { $ref: '#/components/responses/IdempotencyKeyInUse' };
    responses['422'] = { $ref: '#/components/responses/IdempotencyKeyReused' };
  }
  for (const [status, description] of Object.entries(route.errors ?? {})) {
    responses[status] =
      status === '409' && responses[status]
        ? errorResponse(`${description}; or IDEMPOTENCY_KEY_IN_USE (Retry-After)`, {
            headers: { 'Retry-After': { $ref: '#/components/headers/Retry-After' } },
          })
        : errorResponse(description);
  }
  return responses;
}

/** An error the api function answers as `Error`, or API Gateway itself as `{"message"}`. */
const eitherError = (description: string, extra: Json = {}): Json => ({
  description,
  content: {
    'application/json': {
      schema: {
        oneOf: [{ $ref: '#/components/schemas/Error' }, { $ref: '#/components/schemas/GatewayError' }],
      },
    },
  },
  ...extra,
});

function operation(route: RouteDefinition, defs: Readonly<Record<string, Schema>>, jobTypes: Json[]): Json {
  const write = route.method !== 'GET';
  const parameters: Json[] = [];
  for (const [, name] of route.path.matchAll(/\{([^}]+)\}/g)) {
    parameters.push({ name, in: 'path', required: true, schema: { type: 'string', minLength: 1 } });
  }
  for (const [name, param] of Object.entries(route.query ?? {})) {
    parameters.push({
      name,
      in: 'query',
      required: false,
      description: param.description,
      schema: paramSchema(param),
    });
  }
  for (const [name, param] of Object.entries(route.headers ?? {})) {
    parameters.push({
      name,
      in: 'header',
      required: false,
      description: param.description,
      schema: paramSchema(param),
    });
  }
  if (route.auth && write) parameters.push({ $ref: '#/components/parameters/IdempotencyKey' });

  const responses: Record<string, unknown> = {};
  for (const [status, spec] of Object.entries(route.responses)) {
    const headers: Json = {
      ...(route.auth ? rateLimitHeaders : {}),
      ...(route.auth && write
        ? { 'Idempotent-Replayed': { $ref: '#/components/headers/Idempotent-Replayed' } }
        : {}),
    };
    responses[status] = {
      description: spec.description,
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
      ...(spec.schema ? { content: { 'application/json': { schema: convert(spec.schema, defs) } } } : {}),
    };
  }
  return {
    operationId: operationId(route),
    summary: route.summary,
    tags: [route.path.split('/')[1]?.replace('.json', '') ?? ''],
    ...(route.scope ? { description: `Needs the \`${route.scope}\` scope.` } : {}),
    security: route.auth ? [{ apiKey: [] }] : [],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: convert(route.body, defs) } },
          },
        }
      : {}),
    ...(routeKey(route) === 'POST /jobs' ? { 'x-job-types': jobTypes } : {}),
    responses: { ...responses, ...errorsOf(route) },
  };
}

/** The OpenAPI 3.1 document of `routes`. */
export function openApiDocument(options: OpenApiOptions = {}): Json {
  const routes = options.routes ?? ROUTES;
  const components = toJsonSchemaDefs(COMPONENTS, CONVERSION) as Record<string, JsonSchema>;
  const schemas: Json = {};
  for (const [name, schema] of Object.entries(components)) {
    const { $schema: _s, $defs: _d, ...rest } = schema as Json;
    schemas[name] = relink(rest);
  }
  const jobTypes = (options.jobTypes ?? []).map((t) => ({
    type: t.type,
    scope: t.scope,
    summary: t.summary,
    ...(t.payload.schema ? { payload: convert(t.payload.schema, COMPONENTS) } : {}),
  }));
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const item = paths[route.path] ?? {};
    item[route.method.toLowerCase()] = operation(route, COMPONENTS, jobTypes);
    paths[route.path] = item;
  }
  const retryAfter = { $ref: '#/components/headers/Retry-After' };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Upstash serverless state',
      version: options.version ?? '0.1.0',
      description:
        'Cache, sessions, rate limits and a job queue on Upstash Redis. Every write route takes an Idempotency-Key header; docs/api.md is the reference.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      schemas,
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
      parameters: {
        IdempotencyKey: {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          description:
            'Makes a retry safe: the same key with the same request within 24 h answers the first response again (Idempotent-Replayed: true); with another request, 422; while the first runs, 409.',
          schema: { type: 'string', minLength: 1, maxLength: 255 },
        },
      },
      headers: {
        'RateLimit-Limit': { description: "the tenant's api limit", schema: { type: 'string' } },
        'RateLimit-Remaining': { description: 'what remains of it', schema: { type: 'string' } },
        'RateLimit-Reset': { description: 'seconds until it frees up', schema: { type: 'string' } },
        'Retry-After': { description: 'seconds to wait before retrying', schema: { type: 'string' } },
        'Idempotent-Replayed': {
          description:
            '"true" when this is the stored answer of an earlier request with the same Idempotency-Key',
          schema: { type: 'string', enum: ['true'] },
        },
      },
      responses: {
        BadRequest: eitherError(
          'VALIDATION_ERROR: a body, parameter, header or id breaks a rule, nothing changed; or a request API Gateway cannot read',
        ),
        Unauthorized: eitherError(
          'no key (answered by API Gateway: {"message"}) or an expired one (UNAUTHORIZED)',
        ),
        Forbidden: eitherError(
          'an unknown key (API Gateway: {"message"}) or one without the route\'s scope (FORBIDDEN)',
        ),
        NotFound: errorResponse('NOT_FOUND'),
        MethodNotAllowed: errorResponse('METHOD_NOT_ALLOWED: Allow lists the methods of the path'),
        IdempotencyKeyInUse: errorResponse(
          'IDEMPOTENCY_KEY_IN_USE: the first request with this Idempotency-Key is still running; retry after Retry-After',
          { headers: { 'Retry-After': retryAfter } },
        ),
        IdempotencyKeyReused: errorResponse(
          'IDEMPOTENCY_KEY_REUSED: this Idempotency-Key was used by another request (method, path, query or body)',
        ),
        PayloadTooLarge: eitherError(
          "PAYLOAD_TOO_LARGE (api.maxBodyBytes, a value or payload limit), or a body over API Gateway's 10 MB",
        ),
        UnsupportedMediaType: errorResponse('UNSUPPORTED_MEDIA_TYPE: send application/json'),
        TooManyRequests: eitherError(
          "RATE_LIMITED: the tenant's api limit is spent; or the stage's throttle (API Gateway)",
          { headers: { ...rateLimitHeaders, 'Retry-After': retryAfter } },
        ),
        HeadersTooLarge: {
          description: 'headers over 10 KB (answered by API Gateway)',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/GatewayError' } } },
        },
        InternalError: errorResponse('a fault on our side (logged); the message says nothing more'),
        Unavailable: errorResponse('UPSTASH_UNAVAILABLE: error.outcome says whether the request applied', {
          headers: { 'Retry-After': retryAfter },
        }),
      },
    },
    // Requests that match no route (API Gateway's $default) get these, from the api function.
    'x-unmatched-responses': {
      '400': { $ref: '#/components/responses/BadRequest' },
      '404': { $ref: '#/components/responses/NotFound' },
      '405': { $ref: '#/components/responses/MethodNotAllowed' },
      '413': { $ref: '#/components/responses/PayloadTooLarge' },
      '431': { $ref: '#/components/responses/HeadersTooLarge' },
    },
  };
}
