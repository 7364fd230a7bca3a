#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { defineStacks } from '../lib/app-stacks';
import { ConfigError, configFromContext } from '../lib/config';

const app = new App();
// cdk-nag AwsSolutions on every synth: an unacknowledged finding makes `cdk synth` exit 1.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
try {
  defineStacks(app, configFromContext(app.node));
} catch (error) {
  // A configuration problem is the user's to fix: one line each, no stack trace.
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}
