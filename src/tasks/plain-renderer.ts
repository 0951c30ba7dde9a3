// Plain lines for CI logs and pipes: one line per finished task, groups as headers, failures
// with their message indented below. No spinners, no colours, no cursor movement.
import { ListrTaskEventType, ListrTaskState, type ListrRenderer } from "listr2";

interface TaskLike {
  title?: string;
  hasTitle(): boolean;
  on(event: ListrTaskEventType, cb: (arg: never) => void): void;
}

export class PlainRenderer implements ListrRenderer {
  static nonTTY = true;
  static rendererOptions = {};
  static rendererTaskOptions = {};
  private readonly out: NodeJS.WritableStream;

  constructor(
    private readonly tasks: TaskLike[],
    options: { stream?: NodeJS.WritableStream } = {},
  ) {
    this.out = options.stream ?? process.stdout;
  }

  render(): void {
    this.attach(this.tasks, 0);
  }

  end(): void {}

  private line(depth: number, text: string): void {
    const pad = "  ".repeat(depth);
    this.out.write(`${pad}${text.replace(/\n/g, `\n${pad}    `)}\n`);
  }

  private attach(tasks: TaskLike[], depth: number): void {
    for (const task of tasks) {
      let isGroup = false;
      task.on(ListrTaskEventType.SUBTASK, ((subtasks: TaskLike[]) => {
        isGroup = true;
        if (task.hasTitle()) this.line(depth, `${task.title}`);
        this.attach(subtasks, depth + 1);
      }) as (arg: never) => void);
      task.on(ListrTaskEventType.STATE, ((state: ListrTaskState) => {
        if (state === ListrTaskState.COMPLETED && !isGroup && task.hasTitle()) {
          const title = task.title ?? "";
          this.line(depth, title.startsWith("⚠") ? title : `✔ ${title}`);
        }
      }) as (arg: never) => void);
      task.on(ListrTaskEventType.MESSAGE, ((message: { error?: string; skip?: string }) => {
        if (message.error !== undefined && !isGroup) this.line(depth, `✖ ${task.title ?? ""}\n${message.error}`);
        else if (message.skip !== undefined) {
          const title = task.title ?? "";
          this.line(depth, message.skip.startsWith(title) ? `- ${message.skip}` : `- ${title} (skipped: ${message.skip})`);
        }
      }) as (arg: never) => void);
    }
  }
}
