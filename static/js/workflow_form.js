// The workflow form's steps: add, remove and reorder them in place, and show the inputs for
// the variables of the template a step uses (read from GET /api/templates/{id}).
// Without this script the same buttons post the form and the server redraws it.

import { api } from './common.js';

const list = document.getElementById('step-list');
const blank = document.getElementById('step-template');
const form = list?.closest('form');

const ATTRIBUTES = ['name', 'id', 'for', 'aria-describedby', 'list'];
const PREFIX = /steps-(\d+|__i__)-/g;

// Inputs are named steps-<i>-<field>; the server reads the steps in <i> order, so the
// numbers follow the order on screen after every change.
function renumber() {
  [...list.children].forEach((step, i) => {
    for (const el of step.querySelectorAll('*')) {
      for (const attr of ATTRIBUTES) {
        const value = el.getAttribute(attr);
        if (value) el.setAttribute(attr, value.replace(PREFIX, `steps-${i}-`));
      }
    }
    for (const button of step.querySelectorAll('button[data-step-action]')) {
      button.value = `${button.dataset.stepAction}:${i}`;
    }
    step.querySelector('[data-step-action="up"]').disabled = i === 0;
    step.querySelector('[data-step-action="down"]').disabled = i === list.children.length - 1;
  });
}

function addStep() {
  const step = blank.content.firstElementChild.cloneNode(true);
  list.append(step);
  renumber();
  step.querySelector('input, select, textarea')?.focus();
}

function moveStep(step, action) {
  if (action === 'up' && step.previousElementSibling) {
    step.previousElementSibling.before(step);
  } else if (action === 'down' && step.nextElementSibling) {
    step.nextElementSibling.after(step);
  } else if (action === 'remove') {
    const next = step.nextElementSibling ?? step.previousElementSibling;
    step.remove();
    renumber();
    (next?.querySelector('input') ?? form.querySelector('[data-step-action="add"]')).focus();
    return;
  }
  renumber();
  step.querySelector(`[data-step-action="${action}"]`)?.focus();
}

function variableInput(index, name, value) {
  const id = `steps-${index}-var-${name}`;
  const wrapper = document.createElement('div');
  wrapper.className = 'field field-text';
  const label = document.createElement('label');
  label.htmlFor = id;
  label.textContent = name;
  const input = document.createElement('input');
  input.type = 'text';
  input.id = id;
  input.name = id;
  input.value = value;
  wrapper.append(label, input);
  return wrapper;
}

async function showVariables(step, templateId) {
  const box = step.querySelector('.step-vars');
  const previous = {};
  for (const input of box.querySelectorAll('input')) {
    previous[input.name.replace(/^steps-\d+-var-/, '')] = input.value;
  }
  box.replaceChildren();
  if (!templateId) return;
  const note = document.createElement('p');
  note.className = 'muted';
  try {
    const template = await api(`/api/templates/${encodeURIComponent(templateId)}`);
    const index = [...list.children].indexOf(step);
    for (const name of template.variables) {
      box.append(variableInput(index, name, previous[name] ?? ''));
    }
    if (!template.variables.length) {
      note.textContent = 'This template has no variables.';
      box.append(note);
    }
  } catch (error) {
    note.className = 'field-error';
    note.textContent = `Cannot load the template's variables: ${error.message}`;
    box.append(note);
  }
}

if (form) {
  form.classList.add('js-steps');
  renumber();

  form.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-step-action]');
    if (!button) return;
    event.preventDefault();
    const action = button.dataset.stepAction;
    if (action === 'add') addStep();
    else moveStep(button.closest('li.step'), action);
  });

  form.addEventListener('change', (event) => {
    const step = event.target.closest('li.step');
    if (!step) return;
    if (event.target.name.endsWith('-kind')) step.dataset.kind = event.target.value;
    if (event.target.name.endsWith('-templateId')) showVariables(step, event.target.value);
  });
}
