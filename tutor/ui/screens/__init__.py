"""The screens: lesson list, stepper, lesson, quiz, help, learning-rate lab, training."""
