#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { FoundationStack } from '../lib/stacks/foundation-stack';

const app = new App();
new FoundationStack(app, 'UpstashStateFoundation');
