// The local stack with its fakes (testing/stack.ts) on a fresh database, for end-to-end tests over HTTP.
import { type FakeStack, type FakeStackOptions, startFakeStack } from "../../testing/stack";
import { freshDatabase } from "./database";

export type TestStack = FakeStack;

export const startTestStack = (options: Partial<FakeStackOptions> = {}): Promise<TestStack> =>
  startFakeStack({ ...options, connection: options.connection ?? freshDatabase() });
