#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { defineStacks } from '../lib/app-stacks';
import { configFromContext } from '../lib/config';

const app = new App();
// cdk-nag AwsSolutions on every synth: an unacknowledged finding makes `cdk synth` exit 1.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
defineStacks(app, configFromContext(app.node));
