// A script ends on any error with one line that says what was wrong and its cause, not a stack trace.
import { errorMessage } from "../../functions/lib/errors";

export async function runScript(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    console.error(errorMessage(error));
    process.exit(1);
  }
}
